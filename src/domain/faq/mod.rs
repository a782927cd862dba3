//! The Credits & Billing FAQ: every policy rule (P1-P18,
//! `shared/POLICY.md`) answered as a question a customer would ask. Facts that come from
//! configuration (the support address, the plans, the price book) are passed in and woven
//! into the answers, never typed here.

mod search;

use crate::domain::catalog::{Catalog, format_usd};
pub use search::{Query, SearchText};
use serde::{Deserialize, Serialize};

/// The configured facts the answers quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaqFacts {
    pub support_email: String,
    pub catalog: Catalog,
    /// A generation is charged at most this share (in percent) above its estimate.
    pub capture_tolerance_percent: u32,
    /// Automatic top-ups stop after this many failed charges in a row.
    #[serde(default = "default_attempts")]
    pub auto_top_up_attempts: u32,
}

fn default_attempts() -> u32 {
    crate::domain::auto_top_up::DEFAULT_ATTEMPTS
}

/// A piece of running text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    Text(String),
    Strong(String),
    Link { href: String, text: String },
}

/// A paragraph or a bulleted list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Para(Vec<Inline>),
    List(Vec<Vec<Inline>>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stable anchor: `/faq#do-credits-expire`.
    pub slug: &'static str,
    /// The policy rules this answer explains.
    pub policies: &'static [&'static str],
    pub question: &'static str,
    pub answer: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub slug: &'static str,
    pub title: &'static str,
    pub entries: Vec<Entry>,
}

fn t(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

fn b(s: impl Into<String>) -> Inline {
    Inline::Strong(s.into())
}

fn link(href: impl Into<String>, text: impl Into<String>) -> Inline {
    Inline::Link {
        href: href.into(),
        text: text.into(),
    }
}

fn para(inlines: Vec<Inline>) -> Block {
    Block::Para(inlines)
}

fn days(n: u32) -> String {
    if n == 1 {
        "1 day".to_owned()
    } else {
        format!("{n} days")
    }
}

/// The whole FAQ, in reading order.
pub fn sections(facts: &FaqFacts) -> Vec<Section> {
    let support = || {
        link(
            format!("mailto:{}", facts.support_email),
            facts.support_email.clone(),
        )
    };
    let plans = &facts.catalog.plans;
    // An upgrade in numbers, from the catalogue's two highest plans, half a period in.
    let upgrade_example = match plans.len() {
        n if n >= 2 => {
            let (from, to) = (&plans[n - 2], &plans[n - 1]);
            format!(
                "For example, from {} to {} halfway through a period: {} today and {} more credits \
                 until the renewal, then {} a month.",
                from.name,
                to.name,
                format_usd(
                    to.monthly_price_cents
                        .saturating_sub(from.monthly_price_cents)
                        .div_ceil(2)
                ),
                crate::domain::credits::group_thousands(
                    to.credits_per_period
                        .get()
                        .saturating_sub(from.credits_per_period.get())
                        / 2
                ),
                format_usd(to.monthly_price_cents)
            )
        }
        _ => String::new(),
    };
    let plan_credits: Vec<Vec<Inline>> = plans
        .iter()
        .map(|p| {
            vec![
                b(p.name.clone()),
                t(format!(
                    " ({} a month): {} credits each billing period",
                    format_usd(p.monthly_price_cents),
                    p.credits_per_period
                )),
            ]
        })
        .collect();
    let packs: Vec<Vec<Inline>> = facts
        .catalog
        .top_ups
        .iter()
        .map(|p| {
            vec![
                b(format!("{} credits", p.credits)),
                t(format!(" for {}", format_usd(p.price_cents))),
            ]
        })
        .collect();
    let grace_periods: Vec<Vec<Inline>> = plans
        .iter()
        .map(|p| {
            vec![
                b(p.name.clone()),
                t(format!(": {}", days(p.grace_period_days))),
            ]
        })
        .collect();
    let operations: Vec<Vec<Inline>> = facts
        .catalog
        .price_book
        .ordered()
        .into_iter()
        .map(|rule| {
            vec![
                b(rule.operation.label()),
                t(format!(
                    " ({}): {}",
                    rule.operation.description(),
                    rule.describe()
                )),
            ]
        })
        .collect();
    let lowest = plans.first().map(|p| p.name.clone()).unwrap_or_default();

    vec![
        Section {
            slug: "about-credits",
            title: "What credits are",
            entries: vec![
                Entry {
                    slug: "what-are-credits",
                    policies: &["P1"],
                    question: "What are credits, and what do they pay for?",
                    answer: vec![
                        para(vec![t(
                            "Credits are prepaid units you spend on the AI features of the product. \
                             Every AI operation uses them:",
                        )]),
                        Block::List(operations),
                        para(vec![t(
                            "Editing, organising and listening to your projects never costs credits.",
                        )]),
                    ],
                },
                Entry {
                    slug: "how-much-does-an-operation-cost",
                    policies: &["P2"],
                    question: "How much does an operation cost?",
                    answer: vec![
                        para(vec![
                            t(
                                "It depends on the kind of operation, how complex it is and how long \
                             the result is; the list above shows the rate for each. Before any \
                             generation starts you see an ",
                            ),
                            b("estimate"),
                            t(" of what it will cost."),
                        ]),
                        para(vec![
                            t(
                                "The final charge follows the real length of what was produced, so \
                                 it can differ slightly from the estimate, but it is ",
                            ),
                            b(format!(
                                "never more than {}% above the estimate",
                                facts.capture_tolerance_percent
                            )),
                            t(
                                ": anything beyond that is not charged. Each generation's receipt \
                                 shows both numbers.",
                            ),
                        ]),
                    ],
                },
            ],
        },
        Section {
            slug: "expiry",
            title: "Subscription and top-up credits",
            entries: vec![
                Entry {
                    slug: "do-credits-expire",
                    policies: &["P3", "P4"],
                    question: "Do credits expire?",
                    answer: vec![
                        para(vec![
                            b("Subscription credits"),
                            t(
                                " come with your plan at the start of each billing period and expire \
                               at the end of that period.",
                            ),
                        ]),
                        para(vec![b("Top-up credits"), t(" never expire.")]),
                    ],
                },
                Entry {
                    slug: "do-unused-credits-carry-over",
                    policies: &["P3"],
                    question: "Do unused subscription credits carry over to the next month?",
                    answer: vec![para(vec![t(
                        "No. At each renewal your plan's credits for the new period are granted and \
                         whatever was left of the old period's subscription credits expires. If you \
                         want credits that stay, buy a top-up: top-up credits never expire.",
                    )])],
                },
                Entry {
                    slug: "how-many-credits-does-my-plan-include",
                    policies: &["P3", "P6"],
                    question: "How many credits does each plan include?",
                    answer: vec![
                        para(vec![t(
                            "Every plan grants a fresh amount at the start of each billing period:",
                        )]),
                        Block::List(plan_credits),
                    ],
                },
                Entry {
                    slug: "what-are-top-up-credits",
                    policies: &["P4"],
                    question: "What are top-up credits?",
                    answer: {
                        let mut answer = vec![para(vec![
                            t(
                                "Top-ups are credits you buy on their own, on top of your plan, from the ",
                            ),
                            link("/subscription#top-up", "Subscription page"),
                            t(
                                ". They never expire and stay on your account even if your subscription ends.",
                            ),
                        ])];
                        if !packs.is_empty() {
                            answer.push(para(vec![t("The packs on sale:")]));
                            answer.push(Block::List(packs));
                        }
                        answer
                    },
                },
            ],
        },
        Section {
            slug: "usage",
            title: "How credits are used",
            entries: vec![Entry {
                slug: "which-credits-are-used-first",
                policies: &["P5"],
                question: "Which credits are used first?",
                answer: vec![
                    para(vec![
                        b("Subscription credits are always spent first."),
                        t(
                            " Top-up credits are used only once your subscription credits for the period \
                           are gone, oldest top-up first.",
                        ),
                    ]),
                    para(vec![t(
                        "A single operation can draw from both: if it costs more than the subscription \
                         credits you have left, the rest comes from your top-ups.",
                    )]),
                ],
            }],
        },
        Section {
            slug: "balance",
            title: "Your balance",
            entries: vec![
                Entry {
                    slug: "where-can-i-see-my-balance",
                    policies: &["P6"],
                    question: "Where can I see my balance and when my credits renew?",
                    answer: vec![para(vec![
                        t("The "),
                        link("/subscription", "Subscription page"),
                        t(
                            " shows your current balance split into subscription and top-up credits, how \
                       many credits your plan includes per period, your next renewal date, and where \
                       your credits went, with a receipt for every generation.",
                        ),
                    ])],
                },
                Entry {
                    slug: "can-you-tell-me-before-i-run-out",
                    policies: &["P17"],
                    question: "Can you tell me before I run out?",
                    answer: vec![
                        para(vec![
                            t("Yes. Under "),
                            link("/subscription#notices", "Notices"),
                            t(
                                " on the Subscription page, choose to be told when you have used 50%, 80% \
                                 or all of a period's credits. Each one you choose is shown on the page and \
                                 sent to you by e-mail, once per billing period (if a single generation \
                                 passes two of them, you get one e-mail, for the higher).",
                            ),
                        ]),
                        para(vec![t(
                            "We also e-mail you when your balance is running low, when a plan you \
                             cancelled ends in 3 days, and when the grace period after it ends in 7 days; \
                             you can turn each of these off there. A payment that fails is always \
                             e-mailed, so you can fix your card in time.",
                        )]),
                    ],
                },
                Entry {
                    slug: "can-i-download-my-records",
                    policies: &["P18"],
                    question: "Can I download my generations and payments?",
                    answer: vec![para(vec![
                        t("Yes, they are yours. Under "),
                        link("/subscription#records", "Your records"),
                        t(
                            " on the Subscription page, pick the first and last day and download your \
                             generations (what each was estimated, held and charged, what came back, and \
                             which credits paid for it) or your payments, as CSV files any spreadsheet \
                             opens. Times are in your time zone.",
                        ),
                    ])],
                },
            ],
        },
        Section {
            slug: "refunds",
            title: "Refunds and corrections",
            entries: vec![
                Entry {
                    slug: "are-subscription-fees-refunded",
                    policies: &["P7"],
                    question: "Can I get my subscription fee back?",
                    answer: vec![para(vec![t(
                        "No, subscription fees are not refunded. When you cancel, your plan keeps \
                         running until the end of the period you paid for, so you can still use it.",
                    )])],
                },
                Entry {
                    slug: "what-if-a-generation-fails",
                    policies: &["P8"],
                    question: "What happens to my credits if a generation fails?",
                    answer: vec![para(vec![t(
                        "If a generation fails because of an error on our side, the credits for the \
                         part that failed go back to your balance automatically. You don't need to ask: \
                         the generation's receipt shows the credits returned and why.",
                    )])],
                },
                Entry {
                    slug: "i-was-charged-incorrectly",
                    policies: &["P9"],
                    question: "I think I was charged the wrong amount. What can I do?",
                    answer: vec![para(vec![
                        t("Write to our support team at "),
                        support(),
                        t(
                            " with the date and the operation. They can see every charge on your account \
                           and correct a wrong one.",
                        ),
                    ])],
                },
            ],
        },
        Section {
            slug: "payments",
            title: "Payments, upgrades and receipts",
            entries: vec![
                Entry {
                    slug: "what-does-an-upgrade-cost",
                    policies: &[],
                    question: "What does an upgrade cost?",
                    answer: vec![
                        para(vec![t(
                            "An upgrade starts the higher plan at once. Today you pay only the difference \
                             between the two monthly prices for the part of the period that is left, and \
                             you get the difference in credits for that same part; from your next renewal \
                             you pay the new plan's monthly price. The confirm step shows both amounts \
                             before you agree, and the payment appears in your payments.",
                        )]),
                        para(vec![t(upgrade_example)]),
                    ],
                },
                Entry {
                    slug: "credits-added-by-support",
                    policies: &[],
                    question: "Support added credits to my account. Where do I see them?",
                    answer: vec![para(vec![
                        t(
                            "Credits our support team adds (to correct a charge, for example) show in your \
                           balance as \"Added by support\", and your ",
                        ),
                        link("/history", "credit history"),
                        t(
                            " lists each one with the reason support gave. Credits support takes back \
                           are listed there too.",
                        ),
                    ])],
                },
                Entry {
                    slug: "receipts-and-invoices",
                    policies: &[],
                    question: "Where are my receipts and payments?",
                    answer: vec![para(vec![
                        t("Your "),
                        link("/subscription", "Subscription page"),
                        t(
                            " lists every payment: what it bought (a plan or a top-up), the amount and its \
                           status. Each payment received has a receipt beside it: Stripe's invoice or \
                           receipt when you paid through Stripe, the app's own in test mode. Every \
                           generation has a receipt there too, with its estimate, what was charged and \
                           what came back. Your ",
                        ),
                        link("/history", "credit history"),
                        t(" shows every change of your balance, with the balance after each."),
                    ])],
                },
                Entry {
                    slug: "payment-still-processing",
                    policies: &[],
                    question: "My payment says it is processing. What happens now?",
                    answer: vec![para(vec![t(
                        "Some ways to pay, such as a bank debit, take a while to confirm. Until then the \
                         page says the payment is processing; your top-up credits or your plan start as \
                         soon as it is confirmed, never before. While a plan payment is processing no \
                         other plan can be bought, so you never pay twice, and if a second plan payment \
                         goes through anyway it is refunded in full automatically and shown as Refunded.",
                    )])],
                },
            ],
        },
        Section {
            slug: "running-out",
            title: "Running out of credits",
            entries: vec![
                Entry {
                    slug: "what-happens-when-i-run-out",
                    policies: &["P10"],
                    question: "What happens when I don't have enough credits?",
                    answer: vec![
                        para(vec![t(
                            "An operation your balance can't cover is stopped before it starts, never \
                             halfway, and you are told so. You then have two ways on:",
                        )]),
                        Block::List(vec![
                            vec![b("Buy a top-up now"), t(" and carry on straight away, or")],
                            vec![
                                b("wait for your next renewal"),
                                t(
                                    ", when your plan's credits are granted again; the notice tells you its date.",
                                ),
                            ],
                        ]),
                    ],
                },
                Entry {
                    slug: "can-credits-top-up-automatically",
                    policies: &["P16"],
                    question: "Can my credits top up automatically?",
                    answer: vec![
                        para(vec![
                            t("Yes, if you ask for it. Under "),
                            link("/subscription#auto-top-up", "Automatic top-ups"),
                            t(
                                " on the Subscription page, save a card by buying a top-up there (the \
                                 checkout tells you it keeps the card), then choose when (your available \
                                 balance falls below a number of credits you pick), which pack to buy, and \
                                 the most to spend on them in a month. Then:",
                            ),
                        ]),
                        Block::List(vec![
                            vec![
                                b("one top-up each time your balance falls"),
                                t(
                                    " below your number, however many generations are running at once;",
                                ),
                            ],
                            vec![
                                b("never more than your monthly limit"),
                                t(", counted in your own time zone's month;"),
                            ],
                            vec![
                                b("told if it fails"),
                                t(format!(
                                    ": a declined card, or a bank that wants you to confirm, is shown on \
                                     the page and e-mailed to you. After {} in a row they stop until you \
                                     save a card again or turn them back on.",
                                    match facts.auto_top_up_attempts {
                                        1 => "one failure".to_owned(),
                                        n => format!("{n} failures"),
                                    }
                                )),
                            ],
                        ]),
                        para(vec![t(
                            "What they buy are top-up credits like any other: they never expire. A \
                             generation never waits for one; if your balance can't cover it while one is \
                             being bought, you are told to try again in a minute.",
                        )]),
                    ],
                },
                Entry {
                    slug: "will-i-lose-my-work",
                    policies: &["P11"],
                    question: "Will I lose my projects if I run out of credits or cancel?",
                    answer: vec![para(vec![t(
                        "No. Running out of credits, cancelling or an ended subscription never deletes \
                         or locks your projects, scripts or generated audio while your account is \
                         active or in its grace period.",
                    )])],
                },
            ],
        },
        Section {
            slug: "cancelling",
            title: "Cancelling",
            entries: vec![
                Entry {
                    slug: "what-happens-when-i-cancel",
                    policies: &["P12"],
                    question: "When does my subscription end if I cancel?",
                    answer: vec![para(vec![t(
                        "At the end of your current billing period, not before. Until then you keep \
                         using the product and your remaining credits, and you can change your mind \
                         and resume at any time.",
                    )])],
                },
                Entry {
                    slug: "what-is-the-grace-period",
                    policies: &["P13"],
                    question: "What is the grace period?",
                    answer: vec![
                        para(vec![t(
                            "After your subscription ends, we keep your data for a grace period. If you \
                             subscribe again within it, everything is back as you left it. Its length \
                             depends on your plan:",
                        )]),
                        Block::List(grace_periods),
                    ],
                },
                Entry {
                    slug: "what-happens-after-the-grace-period",
                    policies: &["P14"],
                    question: "What happens after the grace period?",
                    answer: vec![para(vec![t(
                        "Your projects and generated audio may then be deleted for good. Your financial \
                         records (credit history and payments) are kept regardless, and any top-up \
                         credits stay on your account for when you come back.",
                    )])],
                },
            ],
        },
        Section {
            slug: "downgrading",
            title: "Downgrading",
            entries: vec![Entry {
                slug: "can-i-downgrade-instead-of-cancelling",
                policies: &["P15"],
                question: "Can I move to a cheaper plan instead of cancelling?",
                answer: vec![para(vec![
                    t(
                        "Yes. When you start to cancel, we first offer you a lower plan (the lowest is ",
                    ),
                    b(lowest),
                    t(
                        "). Your projects stay, and your monthly credits continue at the lower plan's \
                       amount from your next renewal.",
                    ),
                ])],
            }],
        },
    ]
}

impl Inline {
    fn plain(&self) -> &str {
        match self {
            Inline::Text(s) | Inline::Strong(s) => s,
            Inline::Link { text, .. } => text,
        }
    }
}

impl Entry {
    /// The question and answer as plain text, for search.
    pub fn plain_text(&self) -> String {
        let mut out = format!("{} ", self.question);
        let mut push = |inlines: &[Inline]| {
            for i in inlines {
                out.push_str(i.plain());
            }
            out.push(' ');
        };
        for block in &self.answer {
            match block {
                Block::Para(inlines) => push(inlines),
                Block::List(items) => items.iter().for_each(|item| push(item)),
            }
        }
        out
    }

    /// True when every word of the query, in any order, is in the question or answer:
    /// ignoring case, simple endings ("cancelling" finds "cancel") and a few everyday
    /// words for the same thing ("money back" finds refunds). See [`SearchText`].
    pub fn matches(&self, query: &str) -> bool {
        SearchText::new(&self.plain_text()).matches(&Query::new(query))
    }
}

/// The FAQ made once from the configured facts (they change only with configuration): its
/// sections, and every answer's text ready for search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faq {
    pub support_email: String,
    pub sections: Vec<Section>,
    /// Parallel to `sections` and their entries.
    search: Vec<Vec<SearchText>>,
}

impl Faq {
    pub fn new(facts: &FaqFacts) -> Self {
        let sections = sections(facts);
        let search = sections
            .iter()
            .map(|s| {
                s.entries
                    .iter()
                    .map(|e| SearchText::new(&e.plain_text()))
                    .collect()
            })
            .collect();
        Faq {
            support_email: facts.support_email.clone(),
            sections,
            search,
        }
    }

    /// How many questions there are.
    pub fn total(&self) -> usize {
        self.sections.iter().map(|s| s.entries.len()).sum()
    }

    /// For each section, for each of its entries: does it match `query`?
    pub fn matching(&self, query: &Query) -> Vec<Vec<bool>> {
        self.search
            .iter()
            .map(|texts| texts.iter().map(|t| t.matches(query)).collect())
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests;
