//! Port of the sample's consumers: several members of one consumer group,
//! each a task on one tokio runtime (the Python sample's coroutines with
//! `async for`), until SIGTERM or ctrl-c. Handlers by concrete type.
//!
//! ```sh
//! KAFKA_BROKERS=127.0.0.1:19092 cargo run --example sample_consumer -- 3
//! ```
//!
//! On a terminal a live line shows the records handled so far, records/s
//! and the group's lag on `entities` (asked of the broker once a second);
//! every run ends with a summary table per member, and exits non-zero when
//! a member failed.

#[path = "support/progress.rs"]
mod progress;

use kafka_codec_sample as sample;

use kafka_codec::kafka::{embedded, ConsumerBuilder, Dispatch, Group, Shutdown};
use kafka_codec::{BoxError, KafkaMessage, RecordMeta};
use progress::Progress;
use sample::{Customer, Employee, Entity, Order};

const GROUP: &str = "sample-consumers";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let members: usize = std::env::args().nth(1).map_or(Ok(3), |n| n.parse())?;
    let (brokers, _embedded) = embedded::brokers_from_env()?;
    let consumers = ConsumerBuilder::new(&brokers, GROUP).set("session.timeout.ms", "6000");
    let progress = Progress::start("handled", None, members);
    if let Some(topic) = <Box<dyn Entity>>::TOPIC {
        progress.watch_lag(&brokers, GROUP, topic)?;
    }
    // Each route prints a line and counts the record for the member that
    // handled it.
    let shown = |progress: &Progress| {
        let progress = progress.clone();
        move |meta: RecordMeta, line: String| {
            let member = Group::member().unwrap_or_default();
            progress.println(format_args!("[{member}] {line}"));
            progress.handled_at(member, &meta);
            std::future::ready(Ok::<_, BoxError>(()))
        }
    };
    let (employee, customer, order, other) = (
        shown(&progress),
        shown(&progress),
        shown(&progress),
        shown(&progress),
    );
    let handlers = Dispatch::<dyn Entity>::new()
        .on(move |m, e: Employee| employee(m, format!("employee {} earns {}", e.name, e.salary)))
        .on(move |m, c: Customer| customer(m, format!("customer {} ({:?})", c.name, c.tier)))
        .on(move |m, o: Order| order(m, format!("order {} total {}", o.id, o.total)))
        .fallback(move |m, entity| other(m, format!("{entity:?}")));
    let report = Group::new(consumers, members)
        .run(Shutdown::on_signals()?, move |record| {
            handlers.handle(record)
        })
        .await;
    progress.group_table(&report);
    report.into_result()?;
    Ok(())
}
