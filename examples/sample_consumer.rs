//! Port of the sample's consumers: several members of one consumer group,
//! each a task on one tokio runtime (the Python sample's coroutines with
//! `async for`), until ctrl-c. Handlers dispatch on the concrete type.
//!
//! ```sh
//! KAFKA_BROKERS=127.0.0.1:19092 cargo run --example sample_consumer -- 3
//! ```

use kafka_codec_sample as sample;

use kafka_codec::kafka::{embedded, shutdown_on_ctrl_c, CommitMode, ConsumerBuilder, Group};
use sample::{Customer, Employee, Entity, Order};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let members: usize = std::env::args().nth(1).map_or(Ok(3), |n| n.parse())?;
    let (brokers, _embedded) = embedded::brokers_from_env()?;
    let consumers = ConsumerBuilder::new(&brokers, "sample-consumers")
        .set("session.timeout.ms", "6000")
        .commit_mode(CommitMode::Manual);
    let report = Group::new(consumers, members)
        .run::<Box<dyn Entity>, _, _>(shutdown_on_ctrl_c(), |member, record| async move {
            let entity = record.value();
            if let Some(e) = entity.downcast_ref::<Employee>() {
                println!("[{member}] employee {} earns {}", e.name, e.salary);
            } else if let Some(c) = entity.downcast_ref::<Customer>() {
                println!("[{member}] customer {} ({:?})", c.name, c.tier);
            } else if let Some(o) = entity.downcast_ref::<Order>() {
                println!("[{member}] order {} total {}", o.id, o.total);
            } else {
                println!("[{member}] {entity:?}");
            }
            Ok(())
        })
        .await?;
    println!("handled per member: {:?}", report.handled);
    Ok(())
}
