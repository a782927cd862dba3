use crate::domain::ledger::BalanceView;
use crate::ui::components::format::date;
use leptos::prelude::*;

/// The balance and its split into subscription, support and top-up credits.
#[component]
pub fn BalanceCard(
    balance: BalanceView,
    /// Link to the customer's own history (not on support's view of a customer).
    #[prop(optional)]
    history_link: bool,
) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="balance-heading">
            <h2 id="balance-heading">"Balance"</h2>
            <p class="big-number"><span data-testid="balance-total">{balance.total.to_string()}</span>" credits"</p>
            <dl class="split">
                <div>
                    <dt>"Subscription credits"</dt>
                    <dd data-testid="balance-subscription">{balance.subscription.to_string()}</dd>
                    {balance.subscription_expires_at.map(|at| view! { <dd class="help">{format!("expire on {}", date(at))}</dd> })}
                </div>
                <div>
                    <dt>"Top-up credits"</dt>
                    <dd data-testid="balance-topup">{balance.topup.to_string()}</dd>
                    <dd class="help">"never expire"</dd>
                </div>
                {(!balance.adjustment.is_zero()).then(|| view! {
                    <div>
                        <dt>"Added by support"</dt>
                        <dd data-testid="balance-adjustment">{balance.adjustment.to_string()}</dd>
                    </div>
                })}
                <div>
                    <dt>"Reserved for running generations"</dt>
                    <dd data-testid="balance-held">{balance.held.to_string()}</dd>
                </div>
            </dl>
            {balance.renews_at.map(|at| view! { <p>"Your plan's credits renew on "<strong>{date(at)}</strong>"."</p> })}
            {history_link.then(|| view! { <p><a href="/history" data-testid="history-link">"See every change of your balance"</a></p> })}
        </section>
    }
}
