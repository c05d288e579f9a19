//! `[addresses]`: the bot's own address, the list, the secretariat, the admins
//! and the security contact.

use super::error::ConfigError;
use super::file::ConfigFile;
use super::raw::RawAddresses;
use crate::domain::Address;
use crate::roster::Roster;

/// The addresses the bot uses and answers to.
#[derive(Debug, Clone)]
pub struct Addresses {
    /// The bot's own mailbox: replies come here, mail goes out from here.
    pub bot: Address,
    /// The display name on the bot's mail.
    pub bot_name: String,
    /// The committee mailing list: announcements and results go here.
    pub list: Address,
    /// The secretariat (運営サポートグループ): receives the ratification digest.
    pub secretariat: Vec<Address>,
    /// Who may open ballots by mail (the chair, the secretariat).
    pub admins: Vec<Address>,
    /// Who is told at once of a security incident (a forged or disputed vote,
    /// a flood of mail, a replayed message). Incidents are recorded either way.
    pub security_contact: Vec<Address>,
}

/// Checks `[addresses]`: someone to receive the digest and someone to give
/// orders. The bot's own address is checked against the roster later, by
/// [`check_bot_not_on_roster`], once the roster is read.
pub(super) fn load(file: &ConfigFile, raw: RawAddresses) -> Result<Addresses, ConfigError> {
    if raw.secretariat.is_empty() {
        return Err(ConfigError(format!(
            "{file}: [addresses] secretariat needs at least one address to receive the digest"
        )));
    }
    if raw.admins.is_empty() {
        return Err(ConfigError(format!(
            "{file}: [addresses] admins needs at least one address (the chair or the secretariat)"
        )));
    }
    Ok(Addresses {
        bot_name: raw.bot_name.unwrap_or_else(|| "mail-ballot".to_string()),
        bot: raw.bot,
        list: raw.list,
        secretariat: raw.secretariat,
        admins: raw.admins,
        security_contact: raw.security_contact,
    })
}

/// Refuses a bot address that is also on the roster: mail from the bot's
/// address is read as the bot's own (never counted), so a member answering
/// from it would never be counted.
pub(super) fn check_bot_not_on_roster(
    file: &ConfigFile,
    addresses: &Addresses,
    roster: &Roster,
) -> Result<(), ConfigError> {
    let bot = &addresses.bot;
    if roster.lookup(bot).is_some() {
        return Err(ConfigError(format!(
            "{file}: [addresses] bot = \"{bot}\" is also on the roster; the bot must have an address of its own"
        )));
    }
    Ok(())
}
