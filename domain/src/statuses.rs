//! Statuses stored as text in PostgreSQL and returned by the API: one enum each, so a comparison
//! or an assignment with a misspelt status is a compile error. The database keeps its CHECK
//! constraints; `sqlx::Type` reads and writes the same lowercase words.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a deal stands: `won` and `lost` close it (a deal reaching a stage with that key takes
/// that status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum DealStatus {
    Open,
    Won,
    Lost,
}

impl DealStatus {
    /// The stored word (what the CHECK constraint allows).
    pub fn as_str(self) -> &'static str {
        match self {
            DealStatus::Open => "open",
            DealStatus::Won => "won",
            DealStatus::Lost => "lost",
        }
    }

    /// The status a word names, if it names one (what a filter or a request may send).
    pub fn parse(word: &str) -> Option<DealStatus> {
        [DealStatus::Open, DealStatus::Won, DealStatus::Lost]
            .into_iter()
            .find(|status| status.as_str() == word)
    }

    /// The status a deal takes on reaching the stage with this key.
    pub fn of_stage(key: &str) -> DealStatus {
        match key {
            "won" => DealStatus::Won,
            "lost" => DealStatus::Lost,
            _ => DealStatus::Open,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deal_statuses_are_the_lowercase_words_and_follow_closing_stages() {
        assert_eq!(serde_json::to_value(DealStatus::Won).unwrap(), "won");
        assert_eq!(
            serde_json::from_value::<DealStatus>("lost".into()).unwrap(),
            DealStatus::Lost
        );
        assert!(serde_json::from_value::<DealStatus>("closed".into()).is_err());
        assert_eq!(DealStatus::of_stage("won"), DealStatus::Won);
        assert_eq!(DealStatus::of_stage("lost"), DealStatus::Lost);
        assert_eq!(DealStatus::of_stage("proposal"), DealStatus::Open);
        assert_eq!(DealStatus::parse("closed"), None);
        for status in [DealStatus::Open, DealStatus::Won, DealStatus::Lost] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
            assert_eq!(DealStatus::parse(status.as_str()), Some(status));
        }
    }
}
