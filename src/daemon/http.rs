//! The optional metrics and health endpoint (`[http] listen`): `GET /metrics`
//! in Prometheus' text format, `GET /healthz` (200 while nothing is critical,
//! 503 with the reasons otherwise). Read-only and small on purpose: one
//! request per connection, no body, no keep-alive; anything else is 404 or
//! 405. It shows counts and times, never a vote, an address or a ballot's
//! text.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::app::App;
use crate::status::{gather, Severity};

/// Serves until `stop` is cancelled.
pub async fn serve(listener: TcpListener, app: Arc<App>, stop: CancellationToken) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "metrics and health endpoint listening");
    }
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "the metrics endpoint cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        tokio::spawn(async move {
            // A client that says nothing is not waited for.
            let answered =
                tokio::time::timeout(Duration::from_secs(10), answer(stream, &app)).await;
            if let Ok(Err(e)) = answered {
                debug!(error = %e, "a metrics request failed");
            }
        });
    }
}

async fn answer(stream: TcpStream, app: &App) -> std::io::Result<()> {
    let mut stream = BufReader::new(stream);
    let mut request = String::new();
    stream.read_line(&mut request).await?;
    // The headers are read and ignored (nothing in them changes the answer).
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 || line.trim().is_empty() {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (code, content_type, body) = match (method, path) {
        ("GET", "/metrics") => match metrics(app).await {
            Ok(text) => (200, "text/plain; version=0.0.4; charset=utf-8", text),
            Err(e) => (
                503,
                "text/plain; charset=utf-8",
                format!("cannot read the record: {e}\n"),
            ),
        },
        ("GET", "/healthz") => match gather(app, app.now()).await {
            Ok(s) if s.severity < Severity::Critical => {
                (200, "text/plain; charset=utf-8", "ok\n".to_string())
            }
            Ok(s) => {
                let why: Vec<String> = s
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Critical)
                    .map(|f| f.what.clone())
                    .collect();
                (
                    503,
                    "text/plain; charset=utf-8",
                    format!("critical: {}\n", why.join("; ")),
                )
            }
            Err(e) => (
                503,
                "text/plain; charset=utf-8",
                format!("cannot read the record: {e}\n"),
            ),
        },
        ("GET", _) => (404, "text/plain; charset=utf-8", "not found\n".to_string()),
        _ => (405, "text/plain; charset=utf-8", "only GET\n".to_string()),
    };
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = stream.into_inner();
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// The metrics, in Prometheus' text exposition format.
pub async fn metrics(app: &App) -> Result<String, crate::store::StoreError> {
    let now = app.now();
    let status = gather(app, now).await?;
    let dispositions = app.store.disposition_counts().await?;
    let votes = app.store.valid_votes().await?;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, value) in samples {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    let one = |v: f64| vec![(String::new(), v)];
    metric(
        "mail_ballot_build_info",
        "gauge",
        "The running version.",
        &[(format!("{{version=\"{}\"}}", status.version), 1.0)],
    );
    metric(
        "mail_ballot_messages_total",
        "counter",
        "Messages read, by what became of them.",
        &dispositions
            .iter()
            .map(|(d, n)| (format!("{{disposition=\"{d}\"}}"), *n as f64))
            .collect::<Vec<_>>(),
    );
    metric(
        "mail_ballot_votes_total",
        "counter",
        "Answers recorded in time (counted unless superseded).",
        &one(votes as f64),
    );
    metric(
        "mail_ballot_outbox_queued",
        "gauge",
        "Mails waiting to be sent.",
        &one(status.outbox.queued as f64),
    );
    metric(
        "mail_ballot_outbox_failing",
        "gauge",
        "Queued mails whose last attempt failed.",
        &one(status.outbox.failing as f64),
    );
    metric(
        "mail_ballot_outbox_oldest_age_seconds",
        "gauge",
        "How long the oldest queued mail has waited (0 when none waits).",
        &one(status
            .outbox
            .oldest_queued_at
            .map_or(0.0, |t| (now - t).num_seconds() as f64)),
    );
    metric(
        "mail_ballot_outbox_refused_total",
        "counter",
        "Mails the server refused for good.",
        &one(status.outbox.refused as f64),
    );
    if let Some(t) = status.mailbox.last_read {
        metric(
            "mail_ballot_mailbox_last_read_timestamp_seconds",
            "gauge",
            "When the mailbox was last read to its end (Unix time).",
            &one(t.timestamp() as f64),
        );
        metric(
            "mail_ballot_mailbox_lag_seconds",
            "gauge",
            "How long ago the mailbox was last read to its end.",
            &one((now - t).num_seconds() as f64),
        );
    }
    metric(
        "mail_ballot_rounds_open",
        "gauge",
        "Rounds open.",
        &one(status.rounds.len() as f64),
    );
    metric(
        "mail_ballot_health",
        "gauge",
        "0 fine, 1 warning, 2 critical (as `mail-ballot status` exits).",
        &one(f64::from(status.severity.exit_code())),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::TestApp;

    #[tokio::test]
    async fn metrics_and_health_answer_over_http_and_show_no_address() {
        let t = TestApp::new(2, "2026-12-04T10:00:00Z").await;
        t.app
            .store
            .mark_synced(&t.app.source_name(), t.app.now())
            .await
            .unwrap();
        let app = Arc::new(t.app);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, app.clone(), stop.clone()));
        let get = |path: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut s, &mut out)
                .await
                .unwrap();
            out
        };
        let m = get("/metrics").await;
        assert!(m.starts_with("HTTP/1.1 200 OK\r\n"), "{m}");
        assert!(
            m.contains("# TYPE mail_ballot_outbox_queued gauge\nmail_ballot_outbox_queued 0\n"),
            "{m}"
        );
        assert!(m.contains("mail_ballot_mailbox_lag_seconds 0\n"), "{m}");
        assert!(m.contains("mail_ballot_health 0\n"), "{m}");
        assert!(!m.contains('@'), "no address: {m}");
        let h = get("/healthz").await;
        assert!(
            h.starts_with("HTTP/1.1 200 OK") && h.ends_with("ok\n"),
            "{h}"
        );
        assert!(get("/nothing").await.starts_with("HTTP/1.1 404"));
        stop.cancel();
        server.await.unwrap();
    }
}
