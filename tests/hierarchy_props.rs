//! Property tests: random hierarchies of trait objects nested inside trait
//! objects round-trip through every built-in codec, by the fast path and by
//! typetag's, and no input at all makes decoding panic.

use kafka_codec_sample as sample;

use std::collections::BTreeMap;

use kafka_codec::{Hints, Json, KafkaCodec, KafkaMessage};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sample::{entity_base, random_entity, Entity, EntityBase};

/// An entity made of entities, at any depth: a boxed lead, a list, an
/// optional one and a map of them.
#[derive(Debug, KafkaMessage)]
#[kafka(topic = "teams", key = "name")]
struct Team {
    #[kafka(base)]
    entity: EntityBase,
    name: String,
    lead: Box<dyn Entity>,
    members: Vec<Box<dyn Entity>>,
    deputy: Option<Box<dyn Entity>>,
    by_role: BTreeMap<String, Box<dyn Entity>>,
}

#[kafka_codec::polymorphic]
impl Entity for Team {
    fn base(&self) -> &EntityBase {
        self
    }
}

/// The shape of a random hierarchy. Proptest generates and shrinks this
/// (trait objects are not `Clone`), and [`build`] turns it into entities.
#[derive(Debug, Clone)]
enum Shape {
    /// One of the sample's concrete types, from a seeded generator.
    Leaf(u64),
    Team {
        seed: u64,
        name: String,
        lead: Box<Shape>,
        members: Vec<Shape>,
        deputy: Option<Box<Shape>>,
        by_role: BTreeMap<String, Shape>,
    },
}

fn build(shape: &Shape) -> Box<dyn Entity> {
    match shape {
        Shape::Leaf(seed) => random_entity(&mut StdRng::seed_from_u64(*seed)),
        Shape::Team {
            seed,
            name,
            lead,
            members,
            deputy,
            by_role,
        } => Box::new(Team {
            entity: entity_base(&mut StdRng::seed_from_u64(*seed)),
            name: name.clone(),
            lead: build(lead),
            members: members.iter().map(build).collect(),
            deputy: deputy.as_deref().map(build),
            by_role: by_role.iter().map(|(k, v)| (k.clone(), build(v))).collect(),
        }),
    }
}

fn shapes() -> impl Strategy<Value = Shape> {
    let leaf = any::<u64>().prop_map(Shape::Leaf);
    leaf.prop_recursive(4, 48, 4, |inner| {
        (
            any::<u64>(),
            "\\PC{0,12}",
            inner.clone(),
            prop::collection::vec(inner.clone(), 0..4),
            prop::option::of(inner.clone()),
            prop::collection::btree_map("[a-zé🔥]{0,6}", inner, 0..3),
        )
            .prop_map(|(seed, name, lead, members, deputy, by_role)| Shape::Team {
                seed,
                name,
                lead: Box::new(lead),
                members,
                deputy: deputy.map(Box::new),
                by_role,
            })
    })
}

fn debug(entity: &dyn Entity) -> String {
    format!("{entity:?}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn json_round_trips_by_both_paths(shape in shapes()) {
        let entity = build(&shape);
        let bytes = entity.to_bytes().unwrap();
        let expected = debug(&*entity);

        let fast = <Box<dyn Entity>>::from_bytes(&bytes).unwrap();
        prop_assert_eq!(debug(&*fast), expected.clone());
        prop_assert_eq!(fast.type_name(), entity.type_name());

        let slow: Box<dyn Entity> = Json::new().decode(&bytes).unwrap();
        prop_assert_eq!(debug(&*slow), expected);

        // Encoding is deterministic: the decoded value writes the same bytes.
        prop_assert_eq!(fast.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn keys_survive_the_trait_object(shape in shapes()) {
        let entity = build(&shape);
        let back = <Box<dyn Entity>>::from_bytes(&entity.to_bytes().unwrap()).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        prop_assert_eq!(entity.write_key(&mut a), back.write_key(&mut b));
        prop_assert_eq!(a, b);
        if let Shape::Team { name, .. } = &shape {
            let mut key = Vec::new();
            prop_assert!(entity.write_key(&mut key));
            prop_assert_eq!(key, name.as_bytes());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_errors_keep_the_payload(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        if let Err(err) = <Box<dyn Entity>>::from_bytes(&bytes) {
            prop_assert_eq!(err.payload(), Some(&bytes[..]), "{}", err);
        }
        if let Err(err) = KafkaCodec::<Box<dyn Entity>>::decode(&Json::new(), &bytes) {
            prop_assert_eq!(err.payload(), Some(&bytes[..]), "{}", err);
        }
    }

    #[test]
    fn damaged_encodings_never_panic_and_errors_keep_the_payload(
        shape in shapes(),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let good = build(&shape).to_bytes().unwrap();
        let truncated = &good[..cut.index(good.len())];
        let mut flipped = good.clone();
        let i = at.index(flipped.len());
        flipped[i] = byte;
        for bytes in [truncated, &flipped[..]] {
            if let Err(err) = <Box<dyn Entity>>::from_bytes(bytes) {
                prop_assert_eq!(err.payload(), Some(bytes), "{}", err);
            }
            let hinted = <Box<dyn Entity>>::decode_with(
                &Json::new(),
                bytes,
                &Hints::new(Some("application/json"), Some("Team")),
            );
            if let Err(err) = hinted {
                prop_assert_eq!(err.payload(), Some(bytes), "{}", err);
            }
        }
    }
}

#[cfg(feature = "msgpack")]
proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn msgpack_round_trips_by_both_paths(shape in shapes()) {
        let codec = kafka_codec::MsgPack::new();
        let entity = build(&shape);
        let mut bytes = Vec::new();
        codec.encode(&entity, &mut bytes).unwrap();
        let expected = debug(&*entity);

        let fast = <Box<dyn Entity>>::decode_with(&codec, &bytes, &Hints::NONE).unwrap();
        prop_assert_eq!(debug(&*fast), expected.clone());

        let slow: Box<dyn Entity> = codec.decode(&bytes).unwrap();
        prop_assert_eq!(debug(&*slow), expected);
    }

    #[test]
    fn msgpack_arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let codec = kafka_codec::MsgPack::new();
        if let Err(err) = <Box<dyn Entity>>::decode_with(&codec, &bytes, &Hints::NONE) {
            prop_assert_eq!(err.payload(), Some(&bytes[..]), "{}", err);
        }
    }
}

#[test]
fn a_deep_team_is_tagged_at_every_level() {
    let shape = Shape::Team {
        seed: 1,
        name: "outer".into(),
        lead: Box::new(Shape::Team {
            seed: 2,
            name: "inner".into(),
            lead: Box::new(Shape::Leaf(3)),
            members: vec![],
            deputy: None,
            by_role: BTreeMap::new(),
        }),
        members: vec![Shape::Leaf(4), Shape::Leaf(5)],
        deputy: Some(Box::new(Shape::Leaf(6))),
        by_role: [("qa".to_owned(), Shape::Leaf(7))].into(),
    };
    let entity = build(&shape);
    let bytes = entity.to_bytes().unwrap();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(value["type"], "Team");
    assert_eq!(value["name"], "outer");
    assert!(
        value["id"].is_string(),
        "base fields are flattened: {value}"
    );
    assert_eq!(value["lead"]["type"], "Team");
    assert!(value["lead"]["lead"]["type"].is_string());
    assert!(value["members"][1]["type"].is_string());
    assert!(value["deputy"]["type"].is_string());
    assert!(value["by_role"]["qa"]["type"].is_string());
    assert!(value["by_role"]["qa"].as_object().is_some());

    let back = <Box<dyn Entity>>::from_bytes(&bytes).unwrap();
    let team = back.downcast_ref::<Team>().expect("a Team");
    assert_eq!(team.lead.type_name(), "Team");
    assert_eq!(team.members.len(), 2);
    assert_eq!(format!("{back:?}"), format!("{entity:?}"));
}
