use crate::domain::credits::group_thousands;
use crate::domain::pricing::Operation;
use crate::domain::usage::{DailyUsage, totals_by_operation};
use crate::ui::components::format::utc_day;
use leptos::prelude::*;

const WIDTH: u64 = 600;
const HEIGHT: u64 = 180;

/// Credits used per day, stacked by operation: server-rendered SVG with a text
/// alternative (a summary and a table), readable without JavaScript.
#[component]
pub fn UsageChart(days: Vec<DailyUsage>) -> impl IntoView {
    let total: u64 = days.iter().map(|d| d.total).sum();
    if total == 0 {
        return view! { <p class="empty">"No credits used in this period yet. Generations you run will show here, day by day."</p> }.into_any();
    }
    let totals = totals_by_operation(&days);
    let summary = format!(
        "{} credits used over {} days; most on {}.",
        group_thousands(total),
        days.len(),
        totals.first().map(|(op, _)| op.label()).unwrap_or_default()
    );
    let max = days.iter().map(|d| d.total).max().unwrap_or(1).max(1);
    let n = days.len().max(1) as u64;
    let step = WIDTH / n;
    let bar = (step * 4 / 5).max(1);
    let bars = days
        .iter()
        .enumerate()
        .flat_map(|(i, d)| {
            let x = i as u64 * step;
            let mut y = HEIGHT;
            Operation::ALL
                .iter()
                .zip(d.by_operation)
                .filter(|(_, credits)| *credits > 0)
                .map(|(op, credits)| {
                    let h = (credits * HEIGHT / max).max(1);
                    y = y.saturating_sub(h);
                    view! {
                        <rect class=format!("bar op-{}", op.key()) x=x.to_string() y=y.to_string() width=bar.to_string() height=h.to_string()>
                            <title>{format!("{}: {} credits of {} on {}", op.label(), group_thousands(credits), group_thousands(d.total), utc_day(d.day_start))}</title>
                        </rect>
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect_view();
    let first = days
        .first()
        .map(|d| utc_day(d.day_start))
        .unwrap_or_default();
    let last = days
        .last()
        .map(|d| utc_day(d.day_start))
        .unwrap_or_default();
    let used_days: Vec<DailyUsage> = days.iter().filter(|d| d.total > 0).cloned().collect();
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {WIDTH} {}", HEIGHT + 20) role="img" aria-labelledby="usage-title usage-desc" preserveAspectRatio="none">
                <title id="usage-title">"Credits used per day"</title>
                <desc id="usage-desc">{summary.clone()}</desc>
                <line class="axis" x1="0" y1=HEIGHT.to_string() x2=WIDTH.to_string() y2=HEIGHT.to_string() />
                {bars}
                <text class="axis-label" x="0" y=(HEIGHT + 16).to_string()>{first}</text>
                <text class="axis-label" x=WIDTH.to_string() y=(HEIGHT + 16).to_string() text-anchor="end">{last}</text>
            </svg>
            <figcaption>
                <p>{summary}</p>
                <ul class="legend">
                    {totals.into_iter().map(|(op, credits)| view! {
                        <li><span class=format!("swatch op-{}", op.key()) aria-hidden="true"></span>{format!("{}: {} credits", op.label(), group_thousands(credits))}</li>
                    }).collect_view()}
                </ul>
            </figcaption>
        </figure>
        <details class="chart-table">
            <summary>"Show the numbers by day"</summary>
            <div class="table-wrap">
                <table>
                    <caption>"Credits used per day (days in UTC)"</caption>
                    <thead><tr><th scope="col">"Day"</th>{Operation::ALL.iter().map(|op| view! { <th scope="col" class="num">{op.label()}</th> }).collect_view()}<th scope="col" class="num">"Total"</th></tr></thead>
                    <tbody>
                        {used_days.into_iter().map(|d| view! {
                            <tr>
                                <th scope="row">{utc_day(d.day_start)}</th>
                                {d.by_operation.iter().map(|c| view! { <td class="num">{group_thousands(*c)}</td> }).collect_view()}
                                <td class="num" data-testid="day-total">{group_thousands(d.total)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </details>
    }
    .into_any()
}
