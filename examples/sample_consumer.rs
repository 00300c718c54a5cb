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
use kafka_codec::KafkaMessage;
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
    let (p1, p2, p3, p4) = (
        progress.clone(),
        progress.clone(),
        progress.clone(),
        progress.clone(),
    );
    let member = || Group::member().unwrap_or_default();
    let handlers = Dispatch::<dyn Entity>::new()
        .on(move |meta, e: Employee| {
            p1.println(format_args!(
                "[{}] employee {} earns {}",
                member(),
                e.name,
                e.salary
            ));
            p1.handled_at(member(), &meta);
            async { Ok(()) }
        })
        .on(move |meta, c: Customer| {
            p2.println(format_args!(
                "[{}] customer {} ({:?})",
                member(),
                c.name,
                c.tier
            ));
            p2.handled_at(member(), &meta);
            async { Ok(()) }
        })
        .on(move |meta, o: Order| {
            p3.println(format_args!(
                "[{}] order {} total {}",
                member(),
                o.id,
                o.total
            ));
            p3.handled_at(member(), &meta);
            async { Ok(()) }
        })
        .fallback(move |meta, entity| {
            p4.println(format_args!("[{}] {entity:?}", member()));
            p4.handled_at(member(), &meta);
            async { Ok(()) }
        });
    let report = Group::new(consumers, members)
        .run(Shutdown::on_signals()?, move |record| {
            handlers.handle(record)
        })
        .await;
    progress.group_table(&report);
    report.into_result()?;
    Ok(())
}
