//! A minimal SMTP client that submits a message exactly as given, like a member's mail
//! client would.
//!
//! Hand-written rather than lettre so that nothing between the test and Postfix can touch
//! the bytes: the only change is the dot-stuffing that SMTP requires (and Postfix undoes).
//! Every refusal is reported with the server's reply, so a test sees *why*.

use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// A whole submission must finish within this; Postfix answers in milliseconds.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Submits `raw` to the SMTP server on 127.0.0.1:`port` with the given envelope.
/// An empty `from` sends the null sender (`MAIL FROM:<>`), as bounces do.
pub async fn submit(port: u16, from: &str, rcpts: &[&str], raw: &[u8]) -> anyhow::Result<()> {
    tokio::time::timeout(TIMEOUT, session(port, from, rcpts, raw))
        .await
        .with_context(|| format!("SMTP submission to port {port} took over {TIMEOUT:?}"))?
}

async fn session(port: u16, from: &str, rcpts: &[&str], raw: &[u8]) -> anyhow::Result<()> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("connecting to SMTP on 127.0.0.1:{port}"))?;
    // Each command is one write; without this, Nagle's algorithm and the
    // server's delayed ACK cost about 40 ms per exchange.
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    let mut smtp = Conversation {
        read: BufReader::new(read),
        write,
    };
    smtp.expect("the greeting", &[220]).await?;
    smtp.command("EHLO client.mail-ballot.test", &[250]).await?;
    let mut mail = format!("MAIL FROM:<{from}>");
    if !raw.is_ascii() {
        mail.push_str(" BODY=8BITMIME");
    }
    if !from.is_ascii() || rcpts.iter().any(|r| !r.is_ascii()) {
        mail.push_str(" SMTPUTF8");
    }
    smtp.command(&mail, &[250]).await?;
    for rcpt in rcpts {
        smtp.command(&format!("RCPT TO:<{rcpt}>"), &[250, 251])
            .await?;
    }
    smtp.command("DATA", &[354]).await?;
    let mut data = dot_stuffed(raw);
    data.extend_from_slice(b".\r\n");
    smtp.write.write_all(&data).await?;
    smtp.expect("the end of DATA", &[250]).await?;
    // The message is queued once DATA is accepted; a failing QUIT changes nothing.
    let _ = smtp.command("QUIT", &[221]).await;
    Ok(())
}

struct Conversation {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl Conversation {
    async fn command(&mut self, line: &str, ok: &[u16]) -> anyhow::Result<String> {
        self.write
            .write_all(format!("{line}\r\n").as_bytes())
            .await?;
        self.expect(line, ok).await
    }

    /// Reads one (possibly multi-line) reply and checks its code.
    async fn expect(&mut self, after: &str, ok: &[u16]) -> anyhow::Result<String> {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            if self.read.read_line(&mut line).await? == 0 {
                bail!("the server closed the connection after {after}: {reply}");
            }
            reply.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        let code: u16 = reply.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        if !ok.contains(&code) {
            bail!("{after} was answered: {}", reply.trim_end());
        }
        Ok(reply)
    }
}

/// SMTP transparency (RFC 5321 4.5.2): a line starting with "." gets another one, and the
/// data must end with CRLF before the terminating ".".
fn dot_stuffed(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 16);
    let mut at_line_start = true;
    for &byte in raw {
        if at_line_start && byte == b'.' {
            out.push(b'.');
        }
        out.push(byte);
        at_line_start = byte == b'\n';
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn dot_stuffing_doubles_leading_dots_and_ends_the_data_with_crlf() {
    assert_eq!(dot_stuffed(b".a\r\nb.\r\n.\r\n"), b"..a\r\nb.\r\n..\r\n");
    assert_eq!(dot_stuffed(b"no newline"), b"no newline\r\n");
    assert_eq!(dot_stuffed(b""), b"");
}
