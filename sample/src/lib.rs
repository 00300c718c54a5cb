//! The sample hierarchy of the Python original, in Rust: a base `Entity`
//! with `id` and `created_at`; `Person(Entity)`; `Employee(Person)` and
//! `Customer(Person)`; `Order(Entity)` with line items, and random
//! generators for each. Shared by the tests, the examples, the benches and
//! the fuzz targets of `kafka-codec` (this crate is not published).
//!
//! With the feature `schema`, every type has a JSON Schema (derived with
//! schemars for the plain types; from `#[derive(KafkaMessage)]` for those
//! with a base, and from `#[kafka_codec::polymorphic]` for `dyn Entity`).

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use kafka_codec::KafkaMessage;
use rand::seq::SliceRandom;
use rand::Rng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Department {
    Engineering,
    Sales,
    Support,
    Finance,
}

/// Written as its integer value, like Python's `IntEnum`-valued `Enum`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Tier {
    Bronze = 1,
    Silver = 2,
    Gold = 3,
}

impl From<Tier> for u8 {
    fn from(t: Tier) -> u8 {
        t as u8
    }
}

impl TryFrom<u8> for Tier {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            1 => Ok(Tier::Bronze),
            2 => Ok(Tier::Silver),
            3 => Ok(Tier::Gold),
            other => Err(format!("no tier {other}")),
        }
    }
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Paid,
    Shipped,
    Cancelled,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub street: String,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    pub sku: String,
    pub quantity: u32,
    pub unit_price: Decimal,
}

/// The root of the hierarchy: what every entity has.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
pub struct EntityBase {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// The polymorphic view: any entity, as a trait object.
#[kafka_codec::polymorphic(topic = "entities")]
pub trait Entity: std::fmt::Debug {
    /// The base view.
    fn base(&self) -> &EntityBase;
}

#[derive(Debug, Clone, PartialEq, KafkaMessage)]
#[kafka(topic = "people", key = "email")]
pub struct Person {
    #[kafka(base)]
    pub entity: EntityBase,
    pub name: String,
    pub email: String,
    pub birth_date: NaiveDate,
    pub address: Address,
    pub tags: BTreeSet<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, KafkaMessage)]
#[kafka(topic = "people", version = 2)]
pub struct Employee {
    #[kafka(base)]
    pub person: Person,
    #[kafka(key)]
    pub employee_no: u32,
    pub department: Department,
    pub salary: Decimal,
    pub manager_id: Option<Uuid>,
    pub skills: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, KafkaMessage)]
#[kafka(topic = "people")]
pub struct Customer {
    #[kafka(base)]
    pub person: Person,
    pub tier: Tier,
    pub credit_limit: Decimal,
    pub vip: bool,
}

#[derive(Debug, Clone, PartialEq, KafkaMessage)]
#[kafka(topic = "orders")]
pub struct Order {
    #[kafka(base)]
    pub entity: EntityBase,
    #[kafka(key)]
    pub customer_id: Uuid,
    pub status: OrderStatus,
    pub items: Vec<LineItem>,
    pub total: Decimal,
    pub shipped_on: Option<NaiveDate>,
    pub note: Option<String>,
}

#[kafka_codec::polymorphic]
impl Entity for Person {
    fn base(&self) -> &EntityBase {
        self
    }
}

#[kafka_codec::polymorphic]
impl Entity for Employee {
    fn base(&self) -> &EntityBase {
        self
    }
}

#[kafka_codec::polymorphic]
impl Entity for Customer {
    fn base(&self) -> &EntityBase {
        self
    }
}

#[kafka_codec::polymorphic]
impl Entity for Order {
    fn base(&self) -> &EntityBase {
        self
    }
}

const NAMES: &[&str] = &[
    "Ada",
    "Zoë",
    "李",
    "Ørjan",
    "Émile",
    "Nadia 🔥",
    "O'Brien",
    "Ärin",
];
const CITIES: &[&str] = &["Berlin", "São Paulo", "上海", "London", "Zürich"];
const TAGS: &[&str] = &["vip", "beta", "b2b", "früh", "newsletter", ""];
const SKILLS: &[&str] = &["rust", "python", "c++", "excel", "support"];

fn uuid(rng: &mut impl Rng) -> Uuid {
    Uuid::from_u128(rng.gen())
}

fn datetime(rng: &mut impl Rng) -> DateTime<Utc> {
    let secs = rng.gen_range(946_684_800..1_924_905_600);
    let micros = if rng.gen_bool(0.1) {
        0
    } else {
        rng.gen_range(0..1_000_000)
    };
    Utc.timestamp_opt(secs, micros * 1000)
        .single()
        .unwrap_or_default()
}

fn date(rng: &mut impl Rng) -> NaiveDate {
    NaiveDate::from_ymd_opt(
        rng.gen_range(1950..2010),
        rng.gen_range(1..13),
        rng.gen_range(1..29),
    )
    .unwrap_or_default()
}

fn money(rng: &mut impl Rng, max: i64) -> Decimal {
    Decimal::new(rng.gen_range(0..max * 100), 2)
}

fn pick<'a>(rng: &mut impl Rng, from: &[&'a str]) -> &'a str {
    from.choose(rng).copied().unwrap_or_default()
}

fn set(rng: &mut impl Rng, from: &[&str]) -> BTreeSet<String> {
    (0..rng.gen_range(0..4))
        .map(|_| pick(rng, from).to_owned())
        .collect()
}

pub fn entity_base(rng: &mut impl Rng) -> EntityBase {
    EntityBase {
        id: uuid(rng),
        created_at: datetime(rng),
    }
}

pub fn person(rng: &mut impl Rng) -> Person {
    let name = format!("{} {}", pick(rng, NAMES), pick(rng, NAMES));
    Person {
        entity: entity_base(rng),
        email: format!("user{}@example.org", rng.gen_range(0..100_000)),
        name,
        birth_date: date(rng),
        address: Address {
            street: format!("{} Königstraße", rng.gen_range(1..999)),
            city: pick(rng, CITIES).to_owned(),
            postal_code: format!("{:05}", rng.gen_range(0..100_000)),
            country: "DE".to_owned(),
        },
        tags: set(rng, TAGS),
        phone: rng.gen_bool(0.7).then(|| {
            format!(
                "+{} {}",
                rng.gen_range(1..99),
                rng.gen_range(100_000..999_999)
            )
        }),
    }
}

pub fn employee(rng: &mut impl Rng) -> Employee {
    Employee {
        person: person(rng),
        employee_no: rng.gen_range(1..i32::MAX as u32),
        department: *[
            Department::Engineering,
            Department::Sales,
            Department::Support,
            Department::Finance,
        ]
        .choose(rng)
        .unwrap_or(&Department::Sales),
        salary: money(rng, 400_000),
        manager_id: rng.gen_bool(0.8).then(|| uuid(rng)),
        skills: set(rng, SKILLS),
    }
}

pub fn customer(rng: &mut impl Rng) -> Customer {
    Customer {
        person: person(rng),
        tier: *[Tier::Bronze, Tier::Silver, Tier::Gold]
            .choose(rng)
            .unwrap_or(&Tier::Gold),
        credit_limit: money(rng, 50_000),
        vip: rng.gen(),
    }
}

/// An order with `items` line items.
pub fn order_with(rng: &mut impl Rng, items: usize) -> Order {
    let items: Vec<LineItem> = (0..items)
        .map(|i| LineItem {
            sku: format!("SKU-{}-{i}", rng.gen_range(10_000..99_999)),
            quantity: rng.gen_range(1..100),
            unit_price: money(rng, 1000),
        })
        .collect();
    let total = items
        .iter()
        .map(|i| i.unit_price * Decimal::from(i.quantity))
        .sum();
    Order {
        entity: entity_base(rng),
        customer_id: uuid(rng),
        status: *[
            OrderStatus::Pending,
            OrderStatus::Paid,
            OrderStatus::Shipped,
        ]
        .choose(rng)
        .unwrap_or(&OrderStatus::Paid),
        items,
        total,
        shipped_on: rng.gen_bool(0.5).then(|| date(rng)),
        note: rng
            .gen_bool(0.3)
            .then(|| "leave at the door \"please\"".to_owned()),
    }
}

pub fn order(rng: &mut impl Rng) -> Order {
    let n = rng.gen_range(0..6);
    order_with(rng, n)
}

/// A random entity of a random concrete type.
pub fn random_entity(rng: &mut impl Rng) -> Box<dyn Entity> {
    match rng.gen_range(0..4) {
        0 => Box::new(person(rng)),
        1 => Box::new(employee(rng)),
        2 => Box::new(customer(rng)),
        _ => Box::new(order(rng)),
    }
}
