//! `[http]`: the optional metrics and health endpoint (off unless `listen` is
//! given; meant for loopback, where a monitoring agent on the same host
//! scrapes it, or behind the association's reverse proxy).

use std::net::SocketAddr;

use serde::Deserialize;

use super::error::ConfigError;
use super::file::ConfigFile;

/// Where the endpoint listens, when it is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Http {
    pub listen: Option<SocketAddr>,
}

/// `[http]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    listen: Option<String>,
}

/// Checks `[http]`: `listen` is an address and port such as "127.0.0.1:9187".
pub(super) fn load(file: &ConfigFile, raw: RawHttp) -> Result<Http, ConfigError> {
    let listen = match raw.listen {
        None => None,
        Some(s) => Some(s.trim().parse::<SocketAddr>().map_err(|_| {
            ConfigError(format!(
                "{file}: [http] listen = \"{s}\" is not an address and port such as \"127.0.0.1:9187\""
            ))
        })?),
    };
    Ok(Http { listen })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{write_config, CONFIG};
    use super::super::Config;

    #[test]
    fn the_endpoint_is_off_unless_an_address_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let load = |text: &str| Config::load(&write_config(dir.path(), text));
        assert_eq!(load(CONFIG).unwrap().http.listen, None);
        let c = load(&format!("{CONFIG}\n[http]\nlisten = \"127.0.0.1:9187\"\n")).unwrap();
        assert_eq!(c.http.listen, Some("127.0.0.1:9187".parse().unwrap()));
        let e = load(&format!("{CONFIG}\n[http]\nlisten = \"localhost\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("[http] listen = \"localhost\" is not an address and port such as \"127.0.0.1:9187\""), "{e}");
    }
}
