//! The roster: who may vote, and who takes part without a vote.
//!
//! ISOG-J elects one committee member per member organisation (運営規約 6 (4)), so a
//! vote belongs to an organisation, not to a person: its representative or any of
//! the registered alternates may answer, and the latest answer stands. Observers,
//! advisers and fellows (7 (1)-(3)) take part but have no vote; their replies are
//! recorded and never counted.
//!
//! The roster in force is copied into each ballot when it opens (a snapshot), so
//! editing the roster file never changes the N of a ballot already running.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{Address, OrgId};

/// One member organisation and the addresses that may answer for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    pub id: OrgId,
    pub name: String,
    /// The elected committee member: receives personal mail for the organisation.
    pub representative: Address,
    /// The representative's name as letters are addressed to them (山田 太郎),
    /// when the roster gives it: a personal mail then reads 「山田 太郎 様」, and
    /// otherwise is addressed to the organisation (「… 御中」), never to an
    /// address with 様 after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representative_name: Option<String>,
    /// Other registered addresses of the same organisation (the representative's
    /// alternates). A reply from any of them is the organisation's answer.
    #[serde(default)]
    pub alternates: Vec<Address>,
}

impl Organisation {
    /// The representative first, then the alternates.
    pub fn addresses(&self) -> impl Iterator<Item = &Address> {
        std::iter::once(&self.representative).chain(self.alternates.iter())
    }
}

/// Someone who takes part without a vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    pub name: String,
    pub role: Role,
    pub address: Address,
}

/// The non-voting roles of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Observer,
    Adviser,
    Fellow,
}

impl Role {
    /// The machine name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Observer => "observer",
            Role::Adviser => "adviser",
            Role::Fellow => "fellow",
        }
    }
}

/// Who an address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership<'a> {
    /// A registered address of a voting organisation.
    Voter(&'a Organisation),
    /// A participant without a vote.
    NonVoting(&'a Participant),
}

/// The whole roster; also the form in which it is snapshotted into a ballot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    #[serde(default)]
    pub organisations: Vec<Organisation>,
    #[serde(default)]
    pub participants: Vec<Participant>,
}

impl Roster {
    /// Parses the roster file as written and checks its rules. The text comes
    /// from the caller (the configuration loader reads the file), which also
    /// turns an error into a sentence naming the file and line.
    pub fn from_toml(text: &str) -> Result<Roster, RosterError> {
        let roster: Roster = toml::from_str(text)?;
        roster.validate().map_err(RosterError::Invalid)?;
        Ok(roster)
    }

    /// Checks the rules a roster must keep: unique ids, every address belongs to
    /// exactly one organisation or participant (otherwise a reply could not be
    /// attributed), at least one voting organisation.
    pub fn validate(&self) -> Result<(), String> {
        if self.organisations.is_empty() {
            return Err("the roster has no [[organisations]]: nobody could vote".into());
        }
        let mut ids = BTreeMap::new();
        let mut owners: BTreeMap<&Address, String> = BTreeMap::new();
        for org in &self.organisations {
            if ids.insert(&org.id, ()).is_some() {
                return Err(format!("organisation id `{}` is listed twice", org.id));
            }
            if org.name.trim().is_empty() {
                return Err(format!("organisation `{}` has an empty name", org.id));
            }
            for a in org.addresses() {
                if let Some(prev) = owners.insert(a, format!("organisation `{}`", org.id)) {
                    return Err(format!(
                        "the address {a} is registered twice ({prev} and organisation `{}`); each address must answer for one organisation",
                        org.id
                    ));
                }
            }
        }
        for p in &self.participants {
            if let Some(prev) =
                owners.insert(&p.address, format!("{} `{}`", p.role.as_str(), p.name))
            {
                return Err(format!(
                    "the address {} is registered twice ({prev} and {} `{}`)",
                    p.address,
                    p.role.as_str(),
                    p.name
                ));
            }
        }
        Ok(())
    }

    /// Who `addr` belongs to, if anyone.
    pub fn lookup(&self, addr: &Address) -> Option<Membership<'_>> {
        if let Some(o) = self
            .organisations
            .iter()
            .find(|o| o.addresses().any(|a| a == addr))
        {
            return Some(Membership::Voter(o));
        }
        self.participants
            .iter()
            .find(|p| &p.address == addr)
            .map(Membership::NonVoting)
    }

    /// The voting organisations, in roster order.
    pub fn voters(&self) -> impl Iterator<Item = &Organisation> {
        self.organisations.iter()
    }

    /// The organisation with this id.
    pub fn organisation(&self, id: &OrgId) -> Option<&Organisation> {
        self.organisations.iter().find(|o| &o.id == id)
    }

    /// N: the number of votes (one per organisation).
    pub fn eligible(&self) -> u32 {
        u32::try_from(self.organisations.len()).unwrap_or(u32::MAX)
    }
}

/// Why a roster text cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    /// Not a roster as written: TOML syntax, an unknown key, a value of the
    /// wrong form. The error keeps its position in the text, so whoever holds
    /// the text can say on which line.
    #[error("{}", .0.message().trim())]
    Malformed(#[from] toml::de::Error),
    /// A roster that breaks one of the rules `Roster::validate` keeps.
    #[error("{0}")]
    Invalid(String),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Two organisations (one with an alternate) and an observer; the
    /// configuration's tests load it too.
    pub(crate) const ROSTER: &str = r#"
[[organisations]]
id = "acme"
name = "株式会社アクメ"
representative = "taro@acme.example"
alternates = ["hanako@acme.example"]

[[organisations]]
id = "beta"
name = "ベータ株式会社"
representative = "jiro@beta.example"

[[participants]]
name = "山田 オブザーバー"
role = "observer"
address = "yamada@observer.example"
"#;

    fn roster(text: &str) -> Result<Roster, String> {
        Roster::from_toml(text).map_err(|e| e.to_string())
    }

    #[test]
    fn an_alternate_answers_for_its_organisation() {
        let r = roster(ROSTER).unwrap();
        let a = Address::parse("Hanako@ACME.example").unwrap();
        match r.lookup(&a) {
            Some(Membership::Voter(o)) => assert_eq!(o.id.as_str(), "acme"),
            other => panic!("expected acme, got {other:?}"),
        }
        assert_eq!(r.eligible(), 2);
    }

    #[test]
    fn an_observer_is_known_but_has_no_vote() {
        let r = roster(ROSTER).unwrap();
        let a = Address::parse("yamada@observer.example").unwrap();
        assert!(matches!(r.lookup(&a), Some(Membership::NonVoting(p)) if p.role == Role::Observer));
        assert!(r
            .lookup(&Address::parse("stranger@else.example").unwrap())
            .is_none());
    }

    #[test]
    fn an_address_registered_for_two_organisations_is_refused() {
        let text = r#"
[[organisations]]
id = "a"
name = "A"
representative = "x@a.example"
[[organisations]]
id = "b"
name = "B"
representative = "y@b.example"
alternates = ["X@a.example"]
"#;
        let err = roster(text).unwrap_err();
        assert!(
            err.contains("x@a.example") && err.contains("twice"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_roster_is_refused() {
        assert!(roster("").unwrap_err().contains("nobody could vote"));
    }
}
