//! Trait objects and hierarchies: wire shape, fast path, failures.

use kafka_codec_sample as sample;

use kafka_codec::{ErrorKind, Hints, Json, KafkaCodec, KafkaMessage};
use rand::SeedableRng;
use sample::*;

fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(7)
}

#[test]
fn employee_round_trips_as_trait_object_with_python_wire_shape() {
    let employee = employee(&mut rng());
    let boxed: Box<dyn Entity> = Box::new(employee.clone());
    let bytes = boxed.to_bytes().unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.starts_with(r#"{"type":"Employee","id":""#), "{text}");
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "type",
        "id",
        "created_at",
        "name",
        "email",
        "address",
        "employee_no",
        "salary",
    ] {
        assert!(keys.contains(&key), "{key} missing in {keys:?}");
    }
    assert!(value["salary"].is_string(), "decimals are strings: {value}");

    let back = <Box<dyn Entity>>::from_bytes(&bytes).unwrap();
    assert_eq!(back.type_name(), "Employee");
    assert_eq!(back.downcast_ref::<Employee>(), Some(&employee));
    assert!(back.downcast_ref::<Person>().is_none());
    assert_eq!(back.base(), &employee.person.entity);
    // The derived value reads as its base, two levels up.
    assert_eq!(employee.name, employee.person.name);
    assert_eq!(employee.id, employee.person.entity.id);
    let as_person: &Person = &employee;
    assert_eq!(as_person.email, employee.person.email);
}

#[test]
fn concrete_and_polymorphic_decodes_agree() {
    let mut rng = rng();
    for _ in 0..200 {
        let entity = random_entity(&mut rng);
        let bytes = entity.to_bytes().unwrap();
        let fast = <Box<dyn Entity>>::from_bytes(&bytes).unwrap();
        // The typetag path, for comparison.
        let slow: Box<dyn Entity> = Json::new().decode(&bytes).unwrap();
        assert_eq!(format!("{fast:?}"), format!("{entity:?}"));
        assert_eq!(format!("{slow:?}"), format!("{entity:?}"));
    }
}

#[test]
fn tag_anywhere_and_header_hint_both_work() {
    let order = order(&mut rng());
    let mut value = serde_json::to_value(&order).unwrap();
    value["type"] = "Order".into(); // appended last: not the leading key
    let bytes = serde_json::to_vec(&value).unwrap();
    assert!(!bytes.starts_with(br#"{"type""#));
    let back = <Box<dyn Entity>>::from_bytes(&bytes).unwrap();
    assert_eq!(back.downcast_ref::<Order>(), Some(&order));

    // No tag in the payload, but a type header.
    let bare = serde_json::to_vec(&order).unwrap();
    let hints = Hints::new(Some("application/json"), Some("Order"));
    let back = <Box<dyn Entity>>::decode_with(&Json::new(), &bare, &hints).unwrap();
    assert_eq!(back.downcast_ref::<Order>(), Some(&order));
}

#[test]
fn unknown_missing_malformed_and_mismatched_are_distinct() {
    let unknown = br#"{"type":"Robot","id":"x"}"#;
    let err = <Box<dyn Entity>>::from_bytes(unknown).unwrap_err();
    match err.kind() {
        ErrorKind::UnknownType { tag, target } => {
            assert_eq!(tag, "Robot");
            assert_eq!(*target, "dyn Entity");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.payload(), Some(&unknown[..]));

    let missing = br#"{"id":"x"}"#;
    let err = <Box<dyn Entity>>::from_bytes(missing).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::MissingTag {
                tag_key: "type",
                ..
            }
        ),
        "{err}"
    );

    let malformed = br#"{"type":"Order","id":12}"#;
    let err = <Box<dyn Entity>>::from_bytes(malformed).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Malformed { .. }), "{err}");
    assert_eq!(err.payload(), Some(&malformed[..]));

    let not_json = b"\x00\x01garbage";
    let err = <Box<dyn Entity>>::from_bytes(not_json).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Malformed { .. }), "{err}");

    let bytes = order(&mut rng()).to_bytes().unwrap();
    let tagged = {
        let b: Box<dyn Entity> = Box::new(order(&mut rng()));
        b.to_bytes().unwrap()
    };
    let hints = Hints::new(None, Some("Person"));
    let err = <Box<dyn Entity>>::decode_with(&Json::new(), &tagged, &hints).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Header { .. }), "{err}");
    let hints = Hints::new(Some("application/msgpack"), None);
    let err = <Box<dyn Entity>>::decode_with(&Json::new(), &bytes, &hints).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ContentTypeMismatch { .. }),
        "{err}"
    );
    // Concrete types refuse it too: the check is in `decode_with` itself.
    let err = Order::decode_with(&Json::new(), &bytes, &hints).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ContentTypeMismatch { .. }),
        "{err}"
    );
    assert_eq!(err.payload(), Some(&bytes[..]));
}

#[test]
fn registry_knows_exactly_the_compiled_in_types() {
    let registry = <dyn Entity as kafka_codec::Polymorphic>::registry();
    let tags: Vec<_> = registry.tags().collect();
    assert_eq!(tags, ["Customer", "Employee", "Order", "Person"]);
    assert!(registry.duplicates().is_empty());
    assert!(<Box<dyn Entity>>::check().is_ok());
}

#[test]
fn keys_versions_and_topics_come_from_the_types() {
    let employee = employee(&mut rng());
    let mut key = Vec::new();
    assert!(employee.write_key(&mut key));
    assert_eq!(key, employee.employee_no.to_string().as_bytes());
    let boxed: Box<dyn Entity> = Box::new(employee.clone());
    let mut key2 = Vec::new();
    assert!(boxed.write_key(&mut key2));
    assert_eq!(key, key2);
    assert_eq!(boxed.version(), Some(2));
    assert_eq!(Employee::TOPIC, Some("people"));
    assert_eq!(<Box<dyn Entity>>::TOPIC, Some("entities"));

    let order = order(&mut rng());
    let mut key = Vec::new();
    assert!(order.write_key(&mut key));
    assert_eq!(key, order.customer_id.hyphenated().to_string().as_bytes());
    assert!(!EntityBase {
        id: order.entity.id,
        created_at: order.entity.created_at
    }
    .write_key(&mut Vec::new()));
}

#[cfg(feature = "msgpack")]
#[test]
fn msgpack_fast_path_round_trips() {
    let codec = kafka_codec::MsgPack::new();
    let mut rng = rng();
    for _ in 0..100 {
        let entity = random_entity(&mut rng);
        let mut buf = Vec::new();
        codec.encode(&entity, &mut buf).unwrap();
        let back = <Box<dyn Entity>>::decode_with(&codec, &buf, &Hints::NONE).unwrap();
        assert_eq!(format!("{back:?}"), format!("{entity:?}"));
    }
}

#[kafka_codec::polymorphic(topic = "renamed")]
trait Renamed: std::fmt::Debug {}

#[derive(Debug, serde::Serialize, serde::Deserialize, KafkaMessage)]
#[kafka(version = 3)]
struct Keyed {
    #[kafka(key)]
    id: u32,
}

#[kafka_codec::polymorphic(name = "keyed.v3")]
impl Renamed for Keyed {}

/// `name` on a polymorphic impl changes the tag only: the record keeps the
/// type's key and version.
#[test]
fn a_renamed_impl_keeps_its_key_and_version() {
    let value: Box<dyn Renamed> = Box::new(Keyed { id: 42 });
    assert_eq!(value.type_name(), "keyed.v3");
    assert_eq!(value.version(), Some(3));
    let mut key = Vec::new();
    assert!(value.write_key(&mut key));
    assert_eq!(key, b"42");
    let bytes = value.to_bytes().unwrap();
    assert!(
        String::from_utf8_lossy(&bytes).contains("\"keyed.v3\""),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    let back = <Box<dyn Renamed>>::from_bytes(&bytes).unwrap();
    assert_eq!(format!("{back:?}"), "Keyed { id: 42 }");
}

/// A trait object hands out its concrete type and every base it extends,
/// as Python's `isinstance` would answer.
#[test]
fn a_trait_object_is_viewed_as_its_type_and_each_base() {
    let mut rng = rng();
    let employee = loop {
        let e = random_entity(&mut rng);
        if e.is::<Employee>() {
            break e;
        }
    };
    let concrete = employee.downcast_ref::<Employee>().unwrap();
    let person = employee.view::<Person>().expect("an Employee is a Person");
    assert_eq!(person.name, concrete.name);
    let base = employee.view::<EntityBase>().expect("and an EntityBase");
    assert_eq!(base.id, concrete.id);
    assert!(std::ptr::eq(employee.view::<Employee>().unwrap(), concrete));
    assert!(employee.view::<Customer>().is_none());
    assert!(employee.view::<String>().is_none());
}

/// `entity` encoded with `codec` on the fast path (`encode_with`) and through
/// typetag (`KafkaCodec::encode`, typetag's `Serialize for dyn Entity`).
#[allow(clippy::borrowed_box)] // the message type is the box
fn both_ways<C: KafkaCodec<Box<dyn Entity>>>(
    codec: &C,
    entity: &Box<dyn Entity>,
) -> (Vec<u8>, Vec<u8>) {
    let mut fast = Vec::new();
    entity.encode_with(codec, &mut fast).unwrap();
    let mut typetag = Vec::new();
    codec.encode(entity, &mut typetag).unwrap();
    (fast, typetag)
}

#[test]
fn the_sample_hierarchy_encodes_on_the_fast_path_with_typetags_bytes() {
    let employee = employee(&mut rng());
    let entities: [Box<dyn Entity>; 4] = [
        Box::new(person(&mut rng())),
        Box::new(employee.clone()),
        Box::new(customer(&mut rng())),
        Box::new(order_with(&mut rng(), 3)),
    ];
    for entity in &entities {
        let (fast, typetag) = both_ways(&Json::new(), entity);
        assert_eq!(
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&typetag)
        );
        assert_eq!(fast, serde_json::to_vec(entity).unwrap());
        assert_eq!(entity.to_bytes().unwrap(), fast);
        #[cfg(feature = "msgpack")]
        {
            let (fast, typetag) = both_ways(&kafka_codec::MsgPack::new(), entity);
            assert_eq!(fast, typetag);
            assert_eq!(fast, rmp_serde::to_vec_named(entity).unwrap());
        }
    }
    // Three levels of `#[kafka(base)]`, flattened after the tag.
    let bytes = entities[1].to_bytes().unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let expected = format!(
        r#"{{"type":"Employee","id":"{}","#,
        employee.person.entity.id
    );
    assert!(text.starts_with(&expected), "{text}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Random entities encode identically both ways, and decode back.
    #[test]
    fn fast_path_encodes_as_typetag_does_and_round_trips(seed in proptest::prelude::any::<u64>()) {
        let entity = random_entity(&mut rand::rngs::StdRng::seed_from_u64(seed));
        let (fast, typetag) = both_ways(&Json::new(), &entity);
        proptest::prop_assert_eq!(&fast, &typetag);
        let back = <Box<dyn Entity>>::from_bytes(&fast).unwrap();
        proptest::prop_assert_eq!(format!("{back:?}"), format!("{entity:?}"));
        #[cfg(feature = "msgpack")]
        {
            let codec = kafka_codec::MsgPack::new();
            let (fast, typetag) = both_ways(&codec, &entity);
            proptest::prop_assert_eq!(&fast, &typetag);
            let back = <Box<dyn Entity>>::decode_with(&codec, &fast, &Hints::NONE).unwrap();
            proptest::prop_assert_eq!(format!("{back:?}"), format!("{entity:?}"));
        }
    }
}

/// MessagePack trait objects get the limits of a concrete decode, checked in
/// the same pass: the depth while decoding (and while looking for a tag that
/// is not first), trailing bytes after it.
#[cfg(feature = "msgpack")]
#[test]
fn msgpack_trait_objects_check_depth_and_trailing_bytes_in_the_decode() {
    let too_deep = |e: &kafka_codec::Error, max| matches!(e.kind(), ErrorKind::TooDeep { limit } if *limit == max);
    // An order nests three deep: its map, `items`, each item's map.
    let order: Box<dyn Entity> = Box::new(order_with(&mut rng(), 2));
    let mut bytes = Vec::new();
    order
        .encode_with(&kafka_codec::MsgPack::new(), &mut bytes)
        .unwrap();
    let at = |max| kafka_codec::MsgPack::new().max_depth(max);
    assert!(<Box<dyn Entity>>::decode_with(&at(3), &bytes, &Hints::NONE).is_ok());
    let err = <Box<dyn Entity>>::decode_with(&at(2), &bytes, &Hints::NONE).unwrap_err();
    assert!(too_deep(&err, 2), "{err}");
    assert_eq!(err.payload(), Some(&bytes[..]));

    // No tag first: the scan that looks for one stops at the limit too.
    let value = serde_json::json!({"pad": [[[[1]]]]});
    let deep = rmp_serde::to_vec_named(&value).unwrap();
    let err = <Box<dyn Entity>>::decode_with(&at(4), &deep, &Hints::NONE).unwrap_err();
    assert!(too_deep(&err, 4), "{err}");

    let mut longer = bytes.clone();
    longer.push(0xc0);
    let err = <Box<dyn Entity>>::decode_with(&at(3), &longer, &Hints::NONE).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Malformed { position: kafka_codec::Position::Offset(n), .. } if *n == bytes.len()
        ),
        "{err}"
    );
}
