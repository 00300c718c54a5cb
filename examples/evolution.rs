//! Schema evolution on one topic: records written by three versions of
//! `Order` over the years, all read by today's consumer as today's type, and
//! a record from a producer newer than the consumer dead-lettered.
//!
//! * version 1 had `amount: f64`, in euros;
//! * version 2 counts cents, `total_cents: i64`: a step over the JSON tree
//!   reads version 1 as version 2;
//! * version 3, today's, added `currency`: a typed step, `From<v2::Order>`,
//!   reads version 2 as version 3 (version 2 was all euros);
//! * version 4 is not deployed to the consumer yet: its record is refused
//!   with `newer_version`, never guessed at, and goes to the dead-letter
//!   topic byte for byte, where a version 4 reader can pick it up.
//!
//! Runs on librdkafka's embedded mock cluster unless `KAFKA_BROKERS` is set:
//!
//! ```sh
//! cargo run --example evolution
//! KAFKA_BROKERS=127.0.0.1:9092 cargo run --example evolution
//! ```
//!
//! It exits with an error if any record does not come out as expected.

use std::fmt::Debug;
use std::time::Duration;

use kafka_codec::kafka::{embedded, ConsumerBuilder, Producer, Record};
use kafka_codec::{headers, KafkaMessage};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long any one step may take.
const LIMIT: Duration = Duration::from_secs(60);

/// `Order` as its first producer wrote it.
mod v1 {
    use super::{Deserialize, KafkaMessage, Serialize};

    #[derive(Debug, Serialize, Deserialize, KafkaMessage)]
    #[kafka(name = "Order", version = 1)]
    pub(crate) struct Order {
        pub(crate) id: u32,
        pub(crate) amount: f64,
    }
}

/// `Order` as the second producer wrote it: also the typed step's input.
mod v2 {
    use super::{Deserialize, KafkaMessage, Serialize};

    #[derive(Debug, Serialize, Deserialize, KafkaMessage)]
    #[kafka(name = "Order", version = 2)]
    pub(crate) struct Order {
        pub(crate) id: u32,
        pub(crate) total_cents: i64,
    }
}

/// `Order` as a producer deployed ahead of the consumer writes it.
mod v4 {
    use super::{Deserialize, KafkaMessage, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
    #[kafka(name = "Order", version = 4)]
    pub(crate) struct Order {
        pub(crate) id: u32,
        pub(crate) total: Money,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    pub(crate) struct Money {
        pub(crate) cents: i64,
        pub(crate) currency: String,
    }
}

/// Today's `Order`, version 3. JSON-tree steps come first, typed ones after.
#[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
#[kafka(version = 3)]
#[kafka(upcast(from = 1, value = amount_to_cents))]
#[kafka(upcast(from = 2, typed = v2::Order))]
struct Order {
    id: u32,
    total_cents: i64,
    currency: String,
}

/// Version 1 to 2 over the JSON tree: euros become cents.
fn amount_to_cents(mut v: Value) -> Result<Value, String> {
    let amount = v.as_object_mut().and_then(|o| o.remove("amount"));
    let euros = amount
        .as_ref()
        .and_then(Value::as_f64)
        .ok_or("no numeric `amount`")?;
    #[allow(clippy::cast_possible_truncation)] // order totals are far below 2^53 cents
    let cents = (euros * 100.0).round() as i64;
    v["total_cents"] = json!(cents);
    Ok(v)
}

/// Version 2 to 3, typed: version 2 was all euros.
impl From<v2::Order> for Order {
    fn from(v2: v2::Order) -> Self {
        order(v2.id, v2.total_cents, "EUR")
    }
}

fn order(id: u32, total_cents: i64, currency: &str) -> Order {
    let currency = currency.to_owned();
    Order {
        id,
        total_cents,
        currency,
    }
}

/// A header's value as text, `-` when absent.
fn header<T>(record: &Record<T>, name: &str) -> String {
    record
        .header(name)
        .map_or_else(|| "-".into(), |v| String::from_utf8_lossy(v).into_owned())
}

async fn send<T: KafkaMessage + Debug>(
    producer: &Producer,
    topic: &str,
    order: &T,
) -> Result<(), BoxError> {
    let at = producer.send_to(topic, order).await?;
    let version = order.version().unwrap_or_default();
    println!("sent v{version} at offset {}: {order:?}", at.offset);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (brokers, embedded) = embedded::brokers_from_env()?;
    let run = uuid::Uuid::new_v4().simple();
    let (topic, dlq) = (format!("orders-{run}"), format!("orders-dlq-{run}"));
    match &embedded {
        Some(cluster) => {
            println!("embedded mock cluster at {brokers}");
            cluster.create_topic(&topic, 1)?;
            cluster.create_topic(&dlq, 1)?;
        }
        None => println!("broker at {brokers} (KAFKA_BROKERS)"),
    }

    // The producers of the years, on one topic. The version 4 record comes
    // before today's, so the consumer meets it before its last record.
    let producer = Producer::builder(&brokers).build()?;
    let future = v4::Order {
        id: 3,
        total: v4::Money {
            cents: 1_999,
            currency: "USD".into(),
        },
    };
    let first = v1::Order {
        id: 1,
        amount: 12.5,
    };
    send(&producer, &topic, &first).await?;
    let second = v2::Order {
        id: 2,
        total_cents: 4_200,
    };
    send(&producer, &topic, &second).await?;
    send(&producer, &topic, &future).await?;
    send(&producer, &topic, &order(4, 990, "CHF")).await?;

    // Today's consumer: every old record read as version 3.
    let consumer = ConsumerBuilder::new(&brokers, &format!("{topic}-orders"))
        .set("session.timeout.ms", "6000")
        .topics(&[&topic])
        .dead_letter_topic(dlq.clone())
        .build::<Order>()?;
    let mut got = Vec::new();
    while got.len() < 3 {
        let record = tokio::time::timeout(LIMIT, consumer.next()).await??;
        println!(
            "read offset {}, written as v{}: {:?}",
            record.offset(),
            record
                .version()
                .map_or_else(|| "?".into(), |v| v.to_string()),
            record.value()
        );
        consumer.ack(&record)?; // at least once: committed once handled
        got.push(record.into_value());
    }
    let want = [
        order(1, 1_250, "EUR"),
        order(2, 4_200, "EUR"),
        order(4, 990, "CHF"),
    ];
    if got != want {
        return Err(format!("read {got:?}, expected {want:?}").into());
    }

    // The dead letter: the version 4 record as its producer wrote it, with
    // the error in headers. A reader that knows version 4 decodes it.
    let letters = ConsumerBuilder::new(&brokers, &format!("{dlq}-replay"))
        .set("session.timeout.ms", "6000")
        .topics(&[&dlq])
        .build::<v4::Order>()?;
    let letter = tokio::time::timeout(LIMIT, letters.next()).await??;
    let kind = header(&letter, headers::DLQ_ERROR_KIND);
    println!(
        "dead letter from {}@{}, written as v{}: {:?}",
        header(&letter, headers::DLQ_TOPIC),
        header(&letter, headers::DLQ_OFFSET),
        header(&letter, headers::VERSION),
        letter.value()
    );
    println!("  {kind}: {}", header(&letter, headers::DLQ_ERROR_MESSAGE));
    // Byte for byte: the same bytes the producer wrote.
    if kind != "newer_version" || letter.payload() != future.to_bytes()? {
        return Err(format!("unexpected dead letter: {kind}, {:?}", letter.value()).into());
    }
    println!("ok: 3 records upcast to v3, 1 newer record dead-lettered");
    Ok(())
}
