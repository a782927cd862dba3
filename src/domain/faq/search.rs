//! The FAQ's search: a question matches when every word of the query, in any order, is in
//! its question or answer, ignoring case, simple endings ("cancelling" finds "cancel") and
//! a few everyday words for the same thing ("money back" finds refunds). The server and
//! the browser's search box (`ui::pages::faq`) run the same rule.

/// A text made ready for search once: in lower case, and its words (see `terms`). The
/// server makes one per answer from the answer's plain text; the FAQ's search box in the
/// browser from the same text as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    text: String,
    words: Vec<String>,
}

impl SearchText {
    pub fn new(text: &str) -> Self {
        let text = text.to_lowercase();
        let words = terms(&text);
        SearchText { text, words }
    }

    /// True when every word of the query is in the text, or begins one of its words.
    pub fn matches(&self, query: &Query) -> bool {
        query.0.iter().all(|q| {
            self.text.contains(q.as_str()) || self.words.iter().any(|w| w.starts_with(q.as_str()))
        })
    }
}

/// A search query made ready once (its words), to try against many texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query(Vec<String>);

impl Query {
    pub fn new(query: &str) -> Self {
        Query(terms(&query.to_lowercase()))
    }

    /// No words: everything matches, and nothing is being searched for.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Everyday phrases and the word the answers use for them.
const SAME_AS: [(&str, &str); 12] = [
    ("money back", "refund"),
    ("reimburse", "refund"),
    ("repay", "refund"),
    ("cancellation", "cancel"),
    ("unsubscribe", "cancel"),
    ("purchase", "buy"),
    ("price", "cost"),
    ("invoice", "receipt"),
    ("expiry", "expire"),
    ("renewal", "renew"),
    ("pending", "processing"),
    ("cheaper", "lower"),
];

/// The words of `text` (lower case), each with the phrases above replaced and its simple
/// ending taken off.
fn terms(text: &str) -> Vec<String> {
    let mut text = text.to_owned();
    for (alias, word) in SAME_AS {
        text = text.replace(alias, word);
    }
    text.split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .map(stem)
        .collect()
}

/// `cancelling` -> `cancel`, `refunded` -> `refund`, `expires` -> `expir`: endings off,
/// and a doubled last letter made single.
fn stem(word: &str) -> String {
    let mut w = word.to_owned();
    for ending in ["ing", "ed", "es", "s"] {
        if w.len() > ending.len() + 3 && w.ends_with(ending) {
            w.truncate(w.len() - ending.len());
            break;
        }
    }
    let b = w.as_bytes();
    if b.len() > 3 && b[b.len() - 1] == b[b.len() - 2] {
        w.pop();
    }
    if w.len() > 4 && w.ends_with('e') {
        w.pop();
    }
    w
}
