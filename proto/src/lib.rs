//! The gRPC contracts between the Rust side and the Python agent service: `AgentService` (served
//! by `agents/`, called by activities) and `MemoryService` (served by Rust, called back by the
//! agents' tools). The `.proto` files under `ventros/v1/` are the source; the Rust code in `gen/`
//! is generated from them with protox (no system `protoc`) and checked for drift by a test;
//! Python stubs come from the same files.

#[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
pub mod v1 {
    include!("gen/ventros.v1.rs");
}

impl v1::ActionType {
    const PREFIX: &'static str = "ACTION_TYPE_";

    /// `create_lead` for `ACTION_TYPE_CREATE_LEAD`: the name agent runs are stored and shown with,
    /// derived from the proto so that it is never spelled twice.
    pub fn name(self) -> String {
        self.as_str_name()
            .trim_start_matches(Self::PREFIX)
            .to_ascii_lowercase()
    }

    /// The inverse of [`Self::name`]; `None` for a name the proto does not define.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::from_str_name(&format!("{}{}", Self::PREFIX, name.to_ascii_uppercase()))
            .filter(|t| *t != Self::Unspecified)
    }
}

#[cfg(test)]
mod tests {
    use super::v1::ActionType;

    #[test]
    fn action_names_round_trip() {
        for t in [
            ActionType::CreateLead,
            ActionType::UpdatePipeline,
            ActionType::HandoffToHuman,
            ActionType::TagContact,
            ActionType::OpenTicket,
            ActionType::ScheduleFollowUp,
        ] {
            assert_eq!(ActionType::from_name(&t.name()), Some(t));
        }
        assert_eq!(ActionType::CreateLead.name(), "create_lead");
        assert_eq!(ActionType::ScheduleFollowUp.name(), "schedule_follow_up");
        assert_eq!(ActionType::from_name("unspecified"), None);
        assert_eq!(ActionType::from_name("refund_customer"), None);
    }
}
