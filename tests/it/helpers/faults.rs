//! The fault suite's tools: a TCP proxy of the tests' own in front of their PostgreSQL that
//! passes, delays each direction, or blackholes on command, and a slot recorder, a WebSocket
//! server the environments point at that records which instance probed when (each instance's
//! config sends its name in `X-Instance`), so that slots probed once, twice or never and the
//! start lag are judged from outside the daemons.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What the proxy does to the bytes crossing it, both ways.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Pass,
    /// Each chunk is forwarded this long after it arrived, in order.
    Delay(Duration),
    /// Connections are accepted, nothing is forwarded; what arrives is held and goes on once
    /// the proxy passes again, as TCP's retransmissions would after a partition.
    Blackhole,
}

/// A TCP proxy on 127.0.0.1 in front of `upstream`.
pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    stop: CancellationToken,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl FaultProxy {
    pub async fn spawn(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, watching) = watch::channel(Mode::Pass);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let client = tokio::select! {
                    _ = stopped.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => client,
                        Err(_) => continue,
                    },
                };
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let (mode, stop) = (watching.clone(), stopped.clone());
                tokio::spawn(pump(client_read, server_write, mode.clone(), stop.clone()));
                tokio::spawn(pump(server_read, client_write, mode, stop));
            }
        });
        FaultProxy { addr, mode, stop }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// `url` (a PostgreSQL URL on 127.0.0.1) through this proxy.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://wsprobe@{}/{database}", self.addr)
    }
}

/// One direction: a reader stamps each chunk with its arrival, a writer forwards it when the
/// mode lets it.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
    stop: CancellationToken,
) {
    let (chunks, mut queued) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        while let Ok(read) = from.read(&mut buffer).await {
            if read == 0
                || chunks
                    .send((Instant::now(), buffer[..read].to_vec()))
                    .is_err()
            {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((arrived, chunk)) = queued.recv().await {
            loop {
                let current = *mode.borrow_and_update();
                match current {
                    Mode::Blackhole => {
                        if mode.changed().await.is_err() {
                            return;
                        }
                    }
                    Mode::Delay(delay) => {
                        tokio::select! {
                            _ = tokio::time::sleep_until(arrived + delay) => break,
                            // A new mode while waiting (blackhole, pass) decides anew.
                            changed = mode.changed() => if changed.is_err() { return },
                        }
                    }
                    Mode::Pass => break,
                }
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = async { tokio::join!(reader, writer) } => {}
    }
}

/// One probe as the recorder saw it.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The `X-Instance` header the probe carried.
    pub instance: String,
    /// The request path: one per environment.
    pub path: String,
    pub at: DateTime<Utc>,
}

/// A WebSocket server recording every upgrade: who, which path, when.
pub struct SlotRecorder {
    pub addr: SocketAddr,
    probes: Arc<Mutex<Vec<Probe>>>,
    stop: CancellationToken,
}

impl Drop for SlotRecorder {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl SlotRecorder {
    pub async fn spawn() -> SlotRecorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let probes = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (seen, stopped) = (probes.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    _ = stopped.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                };
                tokio::spawn(answer(stream, seen.clone()));
            }
        });
        SlotRecorder { addr, probes, stop }
    }

    pub fn probes(&self) -> Vec<Probe> {
        self.probes.lock().unwrap().clone()
    }
}

/// Complete the upgrade, recording it as it arrives, then read until the probe closes.
// The callback's error type is tungstenite's (an HTTP response), not ours to box.
#[allow(clippy::result_large_err)]
async fn answer(stream: TcpStream, seen: Arc<Mutex<Vec<Probe>>>) {
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    let record = |request: &Request, response: Response| {
        let instance = request
            .headers()
            .get("x-instance")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        seen.lock().unwrap().push(Probe {
            instance,
            path: request.uri().path().to_owned(),
            at: Utc::now(),
        });
        Ok(response)
    };
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, record).await else {
        return;
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        use futures_util::StreamExt;
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
}

/// Slots of one environment in a window, judged from the recorder's probes.
#[derive(Debug, Default)]
pub struct Tally {
    pub once: usize,
    /// Slots probed more than once, with who probed them and how late.
    pub twice: Vec<(i64, Vec<(String, i64)>)>,
    pub missed: Vec<i64>,
    /// Each probe's start after its slot, in milliseconds, sorted.
    pub lags_ms: Vec<i64>,
}

/// Every slot (`period_ms` apart, from the epoch) in `[from, to]` of the environment at
/// `path`: probed once, more, or never. A probe counts for the slot nearest its arrival.
pub fn tally(
    probes: &[Probe],
    path: &str,
    period_ms: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Tally {
    let (from, to) = (from.timestamp_millis(), to.timestamp_millis());
    let mut by_slot: BTreeMap<i64, Vec<(String, i64)>> = BTreeMap::new();
    let mut tally = Tally::default();
    for probe in probes.iter().filter(|p| p.path == path) {
        let at = probe.at.timestamp_millis();
        let slot = (at + period_ms / 2).div_euclid(period_ms) * period_ms;
        if slot < from || slot > to {
            continue;
        }
        tally.lags_ms.push(at - slot);
        by_slot
            .entry(slot)
            .or_default()
            .push((probe.instance.clone(), at - slot));
    }
    tally.lags_ms.sort_unstable();
    let first = from.div_euclid(period_ms) * period_ms + period_ms;
    for slot in (first..=to).step_by(period_ms as usize) {
        match by_slot.get(&slot) {
            None => tally.missed.push(slot),
            Some(who) if who.len() == 1 => tally.once += 1,
            Some(who) => tally.twice.push((slot, who.clone())),
        }
    }
    tally
}

/// `LD_PRELOAD` and `FAKETIME` for a child whose clock is off by `offset` ("+90s", "-5s"),
/// or `None` (and a word) without libfaketime outside CI.
pub fn faketime(offset: &str) -> Option<Vec<(&'static str, String)>> {
    let library = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .find(|path| std::path::Path::new(path).exists());
    let Some(library) = library else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have libfaketime (.ci/run installs it)"
        );
        eprintln!("skipped: no libfaketime on this machine (apt install libfaketime)");
        return None;
    };
    Some(vec![
        ("LD_PRELOAD", library.to_owned()),
        ("FAKETIME", offset.to_owned()),
        // Timers and latencies run on the monotonic clock: only the wall clock is off.
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
    ])
}
