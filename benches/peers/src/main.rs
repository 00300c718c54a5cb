//! kafka-codec against its peers on one broker: records/s and peak RSS.
//!
//! ```text
//! peers create  TOPIC PARTITIONS
//! peers produce CONTENDER TOPIC N
//! peers consume CONTENDER TOPIC N [--group G] [--members M]
//! peers dump    N                  # the N records as JSON lines, for aiokafka_peer.py
//! ```
//!
//! CONTENDER is `kafka-codec`, `ruststream` or `raw`; the broker is
//! `KAFKA_BROKERS`. Each run is one process, so its peak RSS (`VmHWM`, read
//! when the run is done) is one contender's; it prints one JSON line.
//! `benches/peers/run.sh` runs the race; see BENCHMARKS.md.

mod contenders;
mod records;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use contenders::Contender;
use kafka_codec::KafkaMessage as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

type Error = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "usage: peers create TOPIC PARTITIONS | produce CONTENDER TOPIC N \
     | consume CONTENDER TOPIC N [--group G] [--members M] | dump N \
     (CONTENDER: kafka-codec, ruststream, raw; broker: KAFKA_BROKERS)";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Err(e) = run(&args).await {
        eprintln!("peers: {e}");
        std::process::exit(1);
    }
    // Consumers are left to the process's end (a group leave is not timed
    // and not every client does it quickly).
    std::process::exit(0);
}

async fn run(args: &[&str]) -> Result<(), Error> {
    let servers = || std::env::var("KAFKA_BROKERS").map_err(|_| Error::from("set KAFKA_BROKERS"));
    match args {
        ["dump", n] => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for m in records::boxed(n.parse()?) {
                out.write_all(&m.to_bytes()?)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        ["create", topic, partitions] => create(&servers()?, topic, partitions.parse()?).await?,
        ["produce", who, topic, n] => {
            let n: usize = n.parse()?;
            let (elapsed, payload) =
                contenders::produce(contender(who)?, &servers()?, topic, n).await?;
            report(who, "produce", n, elapsed, None, 0, Some(payload));
        }
        ["consume", who, topic, n, options @ ..] => {
            let n: usize = n.parse()?;
            let (mut group, mut members) = (format!("peers-{who}-{topic}"), 1);
            for pair in options.chunks(2) {
                match pair {
                    ["--group", g] => (*g).clone_into(&mut group),
                    ["--members", m] => members = m.parse()?,
                    _ => return Err(USAGE.into()),
                }
            }
            let tally = Arc::new(records::Tally::new(n));
            let who_c = contender(who)?;
            let joined =
                contenders::consume(who_c, &servers()?, topic, &group, members, tally.clone())
                    .await?;
            let (first, last, extra) = tally.span();
            let measure = if members == 1 {
                "consume".to_owned()
            } else {
                format!("group{members}")
            };
            report(who, &measure, n, last - first, Some(joined), extra, None);
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

fn contender(name: &str) -> Result<Contender, Error> {
    Contender::parse(name).ok_or_else(|| format!("unknown contender {name}; {USAGE}").into())
}

async fn create(servers: &str, topic: &str, partitions: i32) -> Result<(), Error> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .create()?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for result in admin.create_topics([&new], &AdminOptions::new()).await? {
        result.map_err(|(name, code)| format!("creating {name}: {code}"))?;
    }
    Ok(())
}

/// The result line: rates count the records after the first (the clock
/// starts with it).
#[allow(clippy::cast_precision_loss)]
fn report(
    who: &str,
    measure: &str,
    n: usize,
    elapsed: Duration,
    joined: Option<Duration>,
    duplicates: usize,
    payload: Option<usize>,
) {
    let line = serde_json::json!({
        "contender": who,
        "measure": measure,
        "records": n,
        "seconds": elapsed.as_secs_f64(),
        "records_per_s": (n - 1) as f64 / elapsed.as_secs_f64(),
        "peak_rss_kib": peak_rss_kib(),
        "first_record_s": joined.map(|d| d.as_secs_f64()),
        "duplicates": duplicates,
        "payload_bytes_avg": payload,
    });
    println!("{line}");
}

/// This process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
