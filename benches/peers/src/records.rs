//! The records every contender carries: the sample hierarchy of the e2e bench, in
//! the two shapes a Rust user can send it.
//!
//! kafka-codec sends `Box<dyn Entity>` (a trait object, polymorphic through
//! the crate's registry). Plain serde_json and ruststream have no trait
//! objects: for them the same structs travel as an internally tagged enum,
//! whose JSON (`{"type":"Employee",...}`) is the same shape. Both are drawn
//! from one seeded generator, call for call, so they are the same records.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use kafka_codec_sample as sample;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ruststream::Outgoing;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use sample::{Customer, Employee, Entity, Order, Person};

/// The seed of the e2e bench (benches/e2e/setup.rs).
const SEED: u64 = 0x0065_3265;

/// What the trait-object-less contenders send: the sample's own structs,
/// tagged by type.
#[derive(Debug, Serialize, Deserialize, Outgoing)]
#[serde(tag = "type")]
pub enum AnyEntity {
    Person(Person),
    Employee(Employee),
    Customer(Customer),
    Order(Order),
}

impl AnyEntity {
    pub fn id(&self) -> Uuid {
        match self {
            AnyEntity::Person(p) => p.entity.id,
            AnyEntity::Employee(e) => e.person.entity.id,
            AnyEntity::Customer(c) => c.person.entity.id,
            AnyEntity::Order(o) => o.entity.id,
        }
    }

    /// The record key kafka-codec writes for the same record (the sample's
    /// `#[kafka(key)]` fields; a `Customer` has none), so every contender
    /// partitions alike.
    pub fn key(&self) -> Option<String> {
        match self {
            AnyEntity::Person(p) => Some(p.email.clone()),
            AnyEntity::Employee(e) => Some(e.employee_no.to_string()),
            AnyEntity::Customer(_) => None,
            AnyEntity::Order(o) => Some(o.customer_id.to_string()),
        }
    }
}

/// `n` records as trait objects, the draws of `sample::random_entity`.
pub fn boxed(n: usize) -> Vec<Box<dyn Entity>> {
    let mut rng = StdRng::seed_from_u64(SEED);
    (0..n).map(|_| sample::random_entity(&mut rng)).collect()
}

/// The same `n` records as the tagged enum: the same draws, in the order
/// `sample::random_entity` makes them.
pub fn tagged(n: usize) -> Vec<AnyEntity> {
    let mut rng = StdRng::seed_from_u64(SEED);
    (0..n)
        .map(|_| match rng.gen_range(0..4) {
            0 => AnyEntity::Person(sample::person(&mut rng)),
            1 => AnyEntity::Employee(sample::employee(&mut rng)),
            2 => AnyEntity::Customer(sample::customer(&mut rng)),
            _ => AnyEntity::Order(sample::order(&mut rng)),
        })
        .collect()
}

/// What a consumer run has seen: distinct records by id (a group may
/// deliver a record twice around a rebalance), the first and the last.
#[derive(Debug)]
pub struct Tally {
    want: usize,
    seen: Mutex<HashSet<Uuid>>,
    deliveries: AtomicUsize,
    first: OnceLock<Instant>,
    last: OnceLock<Instant>,
    done: tokio::sync::Notify,
}

impl Tally {
    pub fn new(want: usize) -> Self {
        Tally {
            want,
            seen: Mutex::new(HashSet::with_capacity(want)),
            deliveries: AtomicUsize::new(0),
            first: OnceLock::new(),
            last: OnceLock::new(),
            done: tokio::sync::Notify::new(),
        }
    }

    /// Counts one delivery; `true` once every record was seen.
    pub fn record(&self, id: Uuid) -> bool {
        self.first.get_or_init(Instant::now);
        self.deliveries.fetch_add(1, Ordering::Relaxed);
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.insert(id);
        if seen.len() >= self.want {
            if self.last.set(Instant::now()).is_ok() {
                self.done.notify_one();
            }
            return true;
        }
        false
    }

    /// Waits until every record was seen.
    pub async fn wait(&self) {
        if self.last.get().is_none() {
            self.done.notified().await;
        }
    }

    /// First record, last record, and deliveries beyond the distinct ones.
    pub fn span(&self) -> (Instant, Instant, usize) {
        let first = *self.first.get().expect("a record was seen");
        let last = *self.last.get().expect("every record was seen");
        let extra = self
            .deliveries
            .load(Ordering::Relaxed)
            .saturating_sub(self.want);
        (first, last, extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_codec::KafkaMessage;

    /// Both shapes are the same records, with the same keys and, apart
    /// from how the tag is placed, the same JSON.
    #[test]
    fn the_two_shapes_agree() {
        for (b, t) in boxed(200).iter().zip(tagged(200)) {
            assert_eq!(b.base().id, t.id());
            let mut key = Vec::new();
            let key = b
                .write_key(&mut key)
                .then(|| String::from_utf8(key).unwrap());
            assert_eq!(key, t.key());
            let of_box: serde_json::Value = serde_json::from_slice(&b.to_bytes().unwrap()).unwrap();
            let of_enum = serde_json::to_value(&t).unwrap();
            assert_eq!(of_box, of_enum);
        }
    }
}
