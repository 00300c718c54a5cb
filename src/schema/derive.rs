//! What the derive's generated `JsonSchema` impls call: the registry of
//! each trait's implementations and their schemas, and the pieces of a
//! hierarchy's schema. Not public API (re-exported through `__private`).

use std::any::TypeId;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

/// A type's schema function.
pub(crate) type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// One implementation registered with `#[kafka_codec::polymorphic]`, for
/// its trait's `oneOf`. Collected from every crate at link time.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct SchemaEntry {
    trait_id: fn() -> TypeId,
    tag: &'static str,
    version: Option<u32>,
    rust_name: fn() -> &'static str,
    schema: fn() -> Option<SchemaFn>,
}

inventory::collect!(SchemaEntry);

impl SchemaEntry {
    /// The entry of the type called `rust_name`, registered for the trait
    /// object `trait_id` under `tag`; `schema` is `None` when the type has
    /// no `JsonSchema`.
    pub const fn new(
        trait_id: fn() -> TypeId,
        tag: &'static str,
        version: Option<u32>,
        rust_name: fn() -> &'static str,
        schema: fn() -> Option<SchemaFn>,
    ) -> Self {
        SchemaEntry {
            trait_id,
            tag,
            version,
            rust_name,
            schema,
        }
    }
}

/// `TypeId::of`, as a function pointer a `static` can hold.
pub fn type_id<T: ?Sized + 'static>() -> TypeId {
    TypeId::of::<T>()
}

/// Autoref specialization: `(&&SchemaOf::<T>::new()).schema_fn()` is
/// `Some(T::json_schema)` when `T: JsonSchema`, else `None`.
#[derive(Debug)]
pub struct SchemaOf<T>(PhantomData<fn() -> T>);

impl<T> SchemaOf<T> {
    /// The probe.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        SchemaOf(PhantomData)
    }
}

/// For types with a schema.
pub trait SchemaOfJson {
    /// `Some(T::json_schema)`.
    fn schema_fn(&self) -> Option<SchemaFn>;
}

impl<T: JsonSchema> SchemaOfJson for &SchemaOf<T> {
    fn schema_fn(&self) -> Option<SchemaFn> {
        Some(T::json_schema)
    }
}

/// For any other type.
pub trait SchemaOfAny {
    /// `None`.
    fn schema_fn(&self) -> Option<SchemaFn>;
}

impl<T> SchemaOfAny for SchemaOf<T> {
    fn schema_fn(&self) -> Option<SchemaFn> {
        None
    }
}

/// The schema of `dyn Trait`: a `oneOf` of every registered type's schema,
/// sorted by tag, each with the tag property (`tag_key`, the trait's
/// `Polymorphic::TAG_KEY`) as a required `const`.
pub fn poly_schema<Tr: ?Sized + 'static>(generator: &mut SchemaGenerator, tag_key: &str) -> Schema {
    let id = TypeId::of::<Tr>();
    let mut entries: Vec<&SchemaEntry> = inventory::iter::<SchemaEntry>
        .into_iter()
        .filter(|e| (e.trait_id)() == id)
        .collect();
    entries.sort_by(|a, b| {
        a.tag
            .cmp(b.tag)
            .then_with(|| (a.rust_name)().cmp((b.rust_name)()))
    });
    let members: Vec<Value> = entries
        .iter()
        .map(|e| member(e, tag_key, generator).to_value())
        .collect();
    Schema::from(json_object(json!({ "oneOf": members })))
}

fn member(entry: &SchemaEntry, tag_key: &str, generator: &mut SchemaGenerator) -> Schema {
    let mut schema = match (entry.schema)() {
        Some(schema_fn) => schema_fn(generator),
        // Registered without a schema: say so, and still tell the types
        // apart by their tags.
        None => {
            let mut schema = object();
            schema.insert("properties".into(), Value::Object(Map::new()));
            schema.insert(
                "description".into(),
                format!(
                    "`{}` does not implement JsonSchema: any object tagged `{}`",
                    (entry.rust_name)(),
                    entry.tag
                )
                .into(),
            );
            schema.insert(super::NO_SCHEMA_KEYWORD.into(), true.into());
            schema
        }
    };
    let tag_schema = json!({ "type": "string", "const": entry.tag });
    if schema.get("properties").is_some_and(Value::is_object) {
        add_property(&mut schema, tag_key, tag_schema, false, true);
    } else {
        let mut tag = object();
        add_property(&mut tag, tag_key, tag_schema, false, true);
        schema = Schema::from(json_object(
            json!({ "allOf": [schema.to_value(), tag.to_value()] }),
        ));
    }
    super::describe(&mut schema, entry.tag, entry.version);
    schema
}

/// The schema a struct with a base starts from: the base's properties and
/// required list (its title and description are the base's, not ours).
pub fn schema_with_base<B: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    let base = B::json_schema(generator);
    let mut schema = object();
    match (base.get("properties"), base.get("required")) {
        (Some(Value::Object(props)), required) => {
            schema.insert("properties".into(), Value::Object(props.clone()));
            if let Some(required) = required {
                schema.insert("required".into(), required.clone());
            }
        }
        // Not a plain object schema (a hand-written `JsonSchema`): the
        // value must match it as well.
        _ => {
            schema.insert("allOf".into(), json!([base.to_value()]));
        }
    }
    schema
}

/// Adds one of a struct's own fields to its schema.
pub fn schema_property<T: JsonSchema>(
    schema: &mut Schema,
    generator: &mut SchemaGenerator,
    name: &str,
    optional: bool,
) {
    let property = generator.subschema_for::<T>().to_value();
    add_property(schema, name, property, optional, false);
}

fn add_property(schema: &mut Schema, name: &str, property: Value, optional: bool, first: bool) {
    let obj = schema.ensure_object();
    if let Value::Object(props) = obj
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()))
    {
        props.insert(name.to_owned(), property);
    }
    if optional {
        return;
    }
    if let Value::Array(required) = obj
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        if !required.iter().any(|r| r == name) {
            if first {
                required.insert(0, name.into());
            } else {
                required.push(name.into());
            }
        }
    }
}

fn object() -> Schema {
    Schema::from(json_object(json!({ "type": "object" })))
}

fn json_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("an object literal"),
    }
}
