//! Port of the sample's consumers: several members of one consumer group,
//! each a task on one tokio runtime (the Python sample's coroutines with
//! `async for`), until ctrl-c. Handlers dispatch on the concrete type.
//!
//! ```sh
//! KAFKA_BROKERS=127.0.0.1:19092 cargo run --example sample_consumer -- 3
//! ```
//!
//! On a terminal a live line shows the records handled so far, records/s
//! and the group's lag on `entities` (asked of the broker once a second);
//! every run ends with a summary table per member.

#[path = "support/progress.rs"]
mod progress;

use kafka_codec_sample as sample;

use kafka_codec::kafka::{embedded, shutdown_on_ctrl_c, CommitMode, ConsumerBuilder, Group};
use kafka_codec::KafkaMessage;
use progress::Progress;
use sample::{Customer, Employee, Entity, Order};

const GROUP: &str = "sample-consumers";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let members: usize = std::env::args().nth(1).map_or(Ok(3), |n| n.parse())?;
    let (brokers, _embedded) = embedded::brokers_from_env()?;
    let consumers = ConsumerBuilder::new(&brokers, GROUP)
        .set("session.timeout.ms", "6000")
        .commit_mode(CommitMode::Manual);
    let progress = Progress::start("handled", None, members);
    if let Some(topic) = <Box<dyn Entity>>::TOPIC {
        progress.watch_lag(&brokers, GROUP, topic)?;
    }
    let counts = progress.clone();
    let report = Group::new(consumers, members)
        .run::<Box<dyn Entity>, _, _>(shutdown_on_ctrl_c(), move |member, record| {
            let progress = counts.clone();
            async move {
                let entity = record.value();
                let line = if let Some(e) = entity.downcast_ref::<Employee>() {
                    format!("[{member}] employee {} earns {}", e.name, e.salary)
                } else if let Some(c) = entity.downcast_ref::<Customer>() {
                    format!("[{member}] customer {} ({:?})", c.name, c.tier)
                } else if let Some(o) = entity.downcast_ref::<Order>() {
                    format!("[{member}] order {} total {}", o.id, o.total)
                } else {
                    format!("[{member}] {entity:?}")
                };
                progress.println(format_args!("{line}"));
                progress.handled(member, &record);
                Ok(())
            }
        })
        .await?;
    progress.group_table(&report);
    Ok(())
}
