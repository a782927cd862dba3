//! The price book: what each AI operation costs, keyed on what drives its cost.
//!
//! The same function prices the request (the estimate shown before a generation) and the
//! real output (the final charge), so the two differ only by how much was produced (P2).

use crate::domain::credits::{Credits, CreditsError};
use serde::{Deserialize, Serialize};

/// Every AI operation of the product that spends credits (P1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    AssistantChat,
    ScriptGeneration,
    VoiceGeneration,
    SoundEffects,
    Music,
    AudioProcessing,
}

impl Operation {
    pub const ALL: [Operation; 6] = [
        Operation::AssistantChat,
        Operation::ScriptGeneration,
        Operation::VoiceGeneration,
        Operation::SoundEffects,
        Operation::Music,
        Operation::AudioProcessing,
    ];

    /// The name customers see.
    pub fn label(self) -> &'static str {
        match self {
            Operation::AssistantChat => "Assistant chat",
            Operation::ScriptGeneration => "Script generation",
            Operation::VoiceGeneration => "Voice generation",
            Operation::SoundEffects => "Sound effects",
            Operation::Music => "Music",
            Operation::AudioProcessing => "Audio processing",
        }
    }

    /// What the operation does, in a few words.
    pub fn description(self) -> &'static str {
        match self {
            Operation::AssistantChat => "messages with the assistant",
            Operation::ScriptGeneration => "scripts written from a story text",
            Operation::VoiceGeneration => "dialogue and narration",
            Operation::SoundEffects => "generated sound effects",
            Operation::Music => "generated music",
            Operation::AudioProcessing => "effects, mixing and export",
        }
    }

    /// The stable name used in configuration and the API, e.g. `voice_generation`.
    pub fn key(self) -> &'static str {
        match self {
            Operation::AssistantChat => "assistant_chat",
            Operation::ScriptGeneration => "script_generation",
            Operation::VoiceGeneration => "voice_generation",
            Operation::SoundEffects => "sound_effects",
            Operation::Music => "music",
            Operation::AudioProcessing => "audio_processing",
        }
    }

    /// The operation named by [`Operation::key`], if any.
    pub fn from_key(key: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.key() == key)
    }
}

/// What drives the cost of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostDriver {
    Messages,
    Characters,
    AudioSeconds,
    Generations,
}

impl CostDriver {
    /// Singular and plural names of one unit.
    pub fn unit_names(self) -> (&'static str, &'static str) {
        match self {
            CostDriver::Messages => ("message", "messages"),
            CostDriver::Characters => ("character", "characters"),
            CostDriver::AudioSeconds => ("second of audio", "seconds of audio"),
            CostDriver::Generations => ("generation", "generations"),
        }
    }
}

/// The rule for one operation: `credits` for every started block of `per` units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceRule {
    pub operation: Operation,
    pub driver: CostDriver,
    pub credits: u64,
    pub per: u64,
}

impl PriceRule {
    /// The price of `quantity` units: every started block is charged in full, and any
    /// non-zero quantity costs at least one block.
    pub fn price(&self, quantity: u64) -> Result<Credits, CreditsError> {
        let blocks = quantity.div_ceil(self.per.max(1));
        Credits::new(blocks)?.checked_mul(self.credits)
    }

    /// "2 credits per 1,000 characters", "1 credit per message".
    pub fn describe(&self) -> String {
        let credit_word = if self.credits == 1 {
            "credit"
        } else {
            "credits"
        };
        let (one, many) = self.driver.unit_names();
        if self.per == 1 {
            format!("{} {credit_word} per {one}", self.credits)
        } else {
            format!(
                "{} {credit_word} per {} {many}",
                self.credits,
                crate::domain::credits::group_thousands(self.per)
            )
        }
    }
}

/// One rule for each operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceBook {
    pub rules: Vec<PriceRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceBookError {
    #[error("the price book has no rule for {0}")]
    Missing(&'static str),
    #[error("the price book has two rules for {0}")]
    Duplicate(&'static str),
    #[error("the rule for {0} must charge at least one credit per at least one unit")]
    Zero(&'static str),
}

impl PriceBook {
    /// Checks that every operation has exactly one rule with non-zero numbers.
    pub fn validate(&self) -> Result<(), PriceBookError> {
        for op in Operation::ALL {
            let mut rules = self.rules.iter().filter(|r| r.operation == op);
            let rule = rules.next().ok_or(PriceBookError::Missing(op.key()))?;
            if rules.next().is_some() {
                return Err(PriceBookError::Duplicate(op.key()));
            }
            if rule.credits == 0 || rule.per == 0 {
                return Err(PriceBookError::Zero(op.key()));
            }
        }
        Ok(())
    }

    pub fn rule(&self, op: Operation) -> Option<&PriceRule> {
        self.rules.iter().find(|r| r.operation == op)
    }

    /// The rules in the product's order of operations.
    pub fn ordered(&self) -> Vec<&PriceRule> {
        Operation::ALL
            .iter()
            .filter_map(|op| self.rule(*op))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(credits: u64, per: u64) -> PriceRule {
        PriceRule {
            operation: Operation::ScriptGeneration,
            driver: CostDriver::Characters,
            credits,
            per,
        }
    }

    #[test]
    fn p2_every_started_block_is_charged_in_full() {
        let r = rule(2, 1000);
        assert_eq!(r.price(0).unwrap(), Credits::ZERO);
        assert_eq!(r.price(1).unwrap().get(), 2);
        assert_eq!(r.price(1000).unwrap().get(), 2);
        assert_eq!(r.price(1001).unwrap().get(), 4);
    }

    #[test]
    fn p2_a_huge_quantity_is_an_overflow_not_a_wrap() {
        assert!(rule(u64::MAX, 1).price(2).is_err());
    }

    #[test]
    fn rules_describe_themselves_in_plain_words() {
        assert_eq!(rule(2, 1000).describe(), "2 credits per 1,000 characters");
        let chat = PriceRule {
            operation: Operation::AssistantChat,
            driver: CostDriver::Messages,
            credits: 1,
            per: 1,
        };
        assert_eq!(chat.describe(), "1 credit per message");
    }

    #[test]
    fn a_price_book_missing_an_operation_is_rejected() {
        let book = PriceBook {
            rules: vec![rule(1, 1)],
        };
        assert_eq!(
            book.validate(),
            Err(PriceBookError::Missing("assistant_chat"))
        );
    }
}
