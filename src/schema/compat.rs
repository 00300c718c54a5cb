//! Compatibility between two JSON Schemas, with Confluent Schema Registry's
//! meanings: see [`check`].

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

/// A compatibility mode, as Confluent Schema Registry names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compatibility {
    /// No check.
    None,
    /// Consumers using the new schema can read data written with the
    /// previous one.
    Backward,
    /// [`Backward`](Self::Backward), against every earlier schema.
    BackwardTransitive,
    /// Consumers using the previous schema can read data written with the
    /// new one.
    Forward,
    /// [`Forward`](Self::Forward), against every earlier schema.
    ForwardTransitive,
    /// Both [`Backward`](Self::Backward) and [`Forward`](Self::Forward).
    Full,
    /// [`Full`](Self::Full), against every earlier schema.
    FullTransitive,
}

impl Compatibility {
    /// Whether new readers must read old data.
    pub fn backward(self) -> bool {
        matches!(
            self,
            Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    /// Whether old readers must read new data.
    pub fn forward(self) -> bool {
        matches!(
            self,
            Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    /// Whether the check is against every earlier schema, not just the
    /// latest.
    pub fn transitive(self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }

    /// Confluent's name: `BACKWARD`, `FULL_TRANSITIVE`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_TRANSITIVE",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_TRANSITIVE",
        }
    }
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Compatibility {
    type Err = String;

    /// Confluent's names, case-insensitive.
    fn from_str(s: &str) -> Result<Self, String> {
        let all = [
            Self::None,
            Self::Backward,
            Self::BackwardTransitive,
            Self::Forward,
            Self::ForwardTransitive,
            Self::Full,
            Self::FullTransitive,
        ];
        all.into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown compatibility mode `{s}`"))
    }
}

/// Which reader fails: the one of the new schema reading old data
/// (backward), or the one of the old schema reading new data (forward).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A reader with the new schema, data written with an old one.
    Backward,
    /// A reader with an old schema, data written with the new one.
    Forward,
}

/// Why a reader may reject what a writer wrote: Confluent's names for the
/// incompatible differences of its JSON Schema checker (plus
/// [`ReferenceUnresolved`](Self::ReferenceUnresolved)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// The reader accepts none of the writer's types.
    TypeChanged,
    /// The reader accepts some of the writer's types only (`number` to
    /// `integer`, nullable to not nullable, any type to one).
    TypeNarrowed,
    /// A property the reader describes, where the writer's open content
    /// model allowed any value under that name.
    PropertyAddedToOpenContentModel,
    /// As above, with a writer whose `additionalProperties` schema allows
    /// values the reader's property rejects.
    PropertyAddedNotCoveredByPartiallyOpenContentModel,
    /// A required property the writer's closed content model never writes.
    RequiredPropertyAddedToUnopenContentModel,
    /// A property both describe, required by the reader only.
    RequiredAttributeAdded,
    /// A property the writer writes and the reader's closed content model
    /// rejects.
    PropertyRemovedFromClosedContentModel,
    /// A property the writer writes whose values the reader's
    /// `additionalProperties` schema rejects.
    PropertyRemovedNotCoveredByPartiallyOpenContentModel,
    /// Additional properties allowed by the writer, not by the reader.
    AdditionalPropertiesRemoved,
    /// The reader's `additionalProperties` accepts fewer values.
    AdditionalPropertiesNarrowed,
    /// Some of the writer's `enum`/`const` values are not the reader's (or
    /// the reader adds an `enum`/`const`).
    EnumArrayNarrowed,
    /// None of the writer's `enum`/`const` values are the reader's.
    EnumArrayChanged,
    /// A `oneOf`/`anyOf` member of the writer that no member of the reader
    /// accepts: for a trait object, a registered type removed (backward) or
    /// added (forward).
    SumTypeNarrowed,
    /// `maximum`/`exclusiveMaximum` added by the reader.
    MaximumAdded,
    /// `maximum`/`exclusiveMaximum` lowered.
    MaximumDecreased,
    /// `minimum`/`exclusiveMinimum` added by the reader.
    MinimumAdded,
    /// `minimum`/`exclusiveMinimum` raised.
    MinimumIncreased,
    /// `maxLength` added.
    MaxLengthAdded,
    /// `maxLength` lowered.
    MaxLengthDecreased,
    /// `minLength` added.
    MinLengthAdded,
    /// `minLength` raised.
    MinLengthIncreased,
    /// `pattern` added.
    PatternAdded,
    /// `pattern` changed.
    PatternChanged,
    /// `maxItems` added.
    MaxItemsAdded,
    /// `maxItems` lowered.
    MaxItemsDecreased,
    /// `minItems` added.
    MinItemsAdded,
    /// `minItems` raised.
    MinItemsIncreased,
    /// `uniqueItems` added.
    UniqueItemsAdded,
    /// `maxProperties` added.
    MaxPropertiesAdded,
    /// `maxProperties` lowered.
    MaxPropertiesDecreased,
    /// `minProperties` added.
    MinPropertiesAdded,
    /// `minProperties` raised.
    MinPropertiesIncreased,
    /// A `$ref` that does not point into its own document: nothing can be
    /// said of it, so it counts as incompatible.
    ReferenceUnresolved,
}

impl Rule {
    /// Confluent's name: `TYPE_NARROWED`, `PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::TypeChanged => "TYPE_CHANGED",
            Self::TypeNarrowed => "TYPE_NARROWED",
            Self::PropertyAddedToOpenContentModel => "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
            Self::PropertyAddedNotCoveredByPartiallyOpenContentModel => {
                "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
            }
            Self::RequiredPropertyAddedToUnopenContentModel => {
                "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
            }
            Self::RequiredAttributeAdded => "REQUIRED_ATTRIBUTE_ADDED",
            Self::PropertyRemovedFromClosedContentModel => {
                "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"
            }
            Self::PropertyRemovedNotCoveredByPartiallyOpenContentModel => {
                "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
            }
            Self::AdditionalPropertiesRemoved => "ADDITIONAL_PROPERTIES_REMOVED",
            Self::AdditionalPropertiesNarrowed => "ADDITIONAL_PROPERTIES_NARROWED",
            Self::EnumArrayNarrowed => "ENUM_ARRAY_NARROWED",
            Self::EnumArrayChanged => "ENUM_ARRAY_CHANGED",
            Self::SumTypeNarrowed => "SUM_TYPE_NARROWED",
            Self::MaximumAdded => "MAXIMUM_ADDED",
            Self::MaximumDecreased => "MAXIMUM_DECREASED",
            Self::MinimumAdded => "MINIMUM_ADDED",
            Self::MinimumIncreased => "MINIMUM_INCREASED",
            Self::MaxLengthAdded => "MAX_LENGTH_ADDED",
            Self::MaxLengthDecreased => "MAX_LENGTH_DECREASED",
            Self::MinLengthAdded => "MIN_LENGTH_ADDED",
            Self::MinLengthIncreased => "MIN_LENGTH_INCREASED",
            Self::PatternAdded => "PATTERN_ADDED",
            Self::PatternChanged => "PATTERN_CHANGED",
            Self::MaxItemsAdded => "MAX_ITEMS_ADDED",
            Self::MaxItemsDecreased => "MAX_ITEMS_DECREASED",
            Self::MinItemsAdded => "MIN_ITEMS_ADDED",
            Self::MinItemsIncreased => "MIN_ITEMS_INCREASED",
            Self::UniqueItemsAdded => "UNIQUE_ITEMS_ADDED",
            Self::MaxPropertiesAdded => "MAX_PROPERTIES_ADDED",
            Self::MaxPropertiesDecreased => "MAX_PROPERTIES_DECREASED",
            Self::MinPropertiesAdded => "MIN_PROPERTIES_ADDED",
            Self::MinPropertiesIncreased => "MIN_PROPERTIES_INCREASED",
            Self::ReferenceUnresolved => "REFERENCE_UNRESOLVED",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One reason a reader may reject a writer's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// The rule broken.
    pub rule: Rule,
    /// Where, as a JSON pointer into the schemas (`#/properties/id`),
    /// following `properties`, `items`, `additionalProperties` and union
    /// members (`#/oneOf/2`, the index in the writer's schema).
    pub path: String,
    /// Which reader fails.
    pub direction: Direction,
    /// The index, in the list given to [`check_all`], of the earlier schema
    /// this one is incompatible with (0 for [`check`]).
    pub against: usize,
    /// What differs, in words.
    pub message: String,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.direction {
            Direction::Backward => "new reader, old data",
            Direction::Forward => "old reader, new data",
        };
        write!(
            f,
            "{} at {} ({who}): {}",
            self.rule, self.path, self.message
        )
    }
}

/// Whether `new` may follow `old` under `mode`. A transitive mode with one
/// earlier schema is its non-transitive self.
///
///
/// Everything reduces to one question asked once or twice: can a reader
/// using schema R read every record a writer using schema W may write, i.e.
/// is every instance valid under W valid under R? BACKWARD asks it with
/// the old schema as W and the new one as R (consumers upgraded first),
/// FORWARD the other way round (producers upgraded first), FULL both ways.
/// The answer is found by comparing the two schemas structurally, keyword by
/// keyword, as Confluent's JSON Schema checker does, and each reason for a
/// "no" is an [`Incompatibility`] named after Confluent's difference type
/// ([`Rule`]).
///
/// What is compared: `type` (with `integer` a subset of `number`, and `null`
/// a type like the others, so a field that stops being nullable narrows its
/// type), `enum` and `const`, `properties`, `required` and
/// `additionalProperties` (the content model: open when absent or `true`,
/// closed when `false`, partially open when a schema; `patternProperties`
/// count as open), `items`, the numeric, length, item-count and
/// property-count bounds, `pattern`, `uniqueItems`, `oneOf`/`anyOf` members
/// (matched by their tag `const` when they have one, as the members of a
/// trait object's schema do), `allOf` (its members merged), and `$ref` to
/// `#/…` in the same document (`definitions`, `$defs`,
/// `components/schemas`), recursive ones included. Not compared: `format`
/// (an annotation in draft 07 and later), `not`, `if`/`then`/`else`,
/// `dependencies`, remote `$ref`s (reported as unresolved).
///
/// As in Confluent's checker, an open content model (serde's default: no
/// `additionalProperties`) makes adding a property incompatible for readers
/// of old data (`PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL`): an old writer may
/// have written that property with any value. Schemas of types with
/// `#[serde(deny_unknown_fields)]` are closed; with those, adding an
/// optional property is backward compatible and removing one is not
/// (`PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL`).
pub fn check(old: &Value, new: &Value, mode: Compatibility) -> Result<(), Vec<Incompatibility>> {
    check_all(std::slice::from_ref(old), new, mode)
}

/// Whether `new` may follow `history` (oldest first) under `mode`: against
/// the latest schema only, or against each of them for the transitive modes.
pub fn check_all(
    history: &[Value],
    new: &Value,
    mode: Compatibility,
) -> Result<(), Vec<Incompatibility>> {
    let start = if mode.transitive() {
        0
    } else {
        history.len().saturating_sub(1)
    };
    let mut found = Vec::new();
    for (against, old) in history.iter().enumerate().skip(start) {
        if mode.backward() {
            found.extend(reader_rejects(old, new, Direction::Backward, against));
        }
        if mode.forward() {
            found.extend(reader_rejects(new, old, Direction::Forward, against));
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(found)
    }
}

fn reader_rejects(
    writer: &Value,
    reader: &Value,
    direction: Direction,
    against: usize,
) -> Vec<Incompatibility> {
    let mut cx = Cx::new(writer, reader);
    cx.compare(writer, reader, "#");
    cx.found
        .into_iter()
        .map(|(rule, path, message)| Incompatibility {
            rule,
            path,
            direction,
            against,
            message,
        })
        .collect()
}

/// One comparison: the two documents (for `$ref`s), the pairs of
/// references being compared (for recursive schemas), what was found.
struct Cx<'a> {
    writer_root: &'a Value,
    reader_root: &'a Value,
    refs: Vec<(String, String)>,
    found: Vec<(Rule, String, String)>,
}

/// How an object schema treats properties it does not list.
enum Content {
    Open,
    Closed,
    Partial(Value),
}

const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "definitions",
    "$defs",
    "format",
    "readOnly",
    "writeOnly",
    "deprecated",
];

impl<'a> Cx<'a> {
    fn new(writer_root: &'a Value, reader_root: &'a Value) -> Self {
        Cx {
            writer_root,
            reader_root,
            refs: Vec::new(),
            found: Vec::new(),
        }
    }

    fn report(&mut self, rule: Rule, path: &str, message: impl Into<String>) {
        self.found.push((rule, path.to_owned(), message.into()));
    }

    /// A fresh context for a trial comparison, sharing the reference pairs.
    fn trial(&self) -> Cx<'a> {
        Cx {
            writer_root: self.writer_root,
            reader_root: self.reader_root,
            refs: self.refs.clone(),
            found: Vec::new(),
        }
    }

    /// Follows `$ref`s and merges `allOf` members into one schema.
    fn resolve(&mut self, schema: &Value, root: &Value, path: &str) -> (Value, Option<String>) {
        let mut schema = schema.clone();
        let mut via = None;
        for _ in 0..64 {
            let Some(target) = schema
                .get("$ref")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                break;
            };
            let resolved = target
                .strip_prefix('#')
                .and_then(|pointer| root.pointer(pointer));
            let Some(resolved) = resolved else {
                self.report(
                    Rule::ReferenceUnresolved,
                    path,
                    format!("cannot resolve `{target}`"),
                );
                return (Value::Bool(true), None);
            };
            let mut merged = resolved.clone();
            if let (Value::Object(merged), Value::Object(siblings)) = (&mut merged, &schema) {
                for (k, v) in siblings {
                    if k != "$ref" && !ANNOTATIONS.contains(&k.as_str()) {
                        merged.insert(k.clone(), v.clone());
                    }
                }
            }
            schema = merged;
            via = Some(target);
        }
        if let Some(Value::Array(members)) = schema.get("allOf").cloned() {
            if let Value::Object(obj) = &mut schema {
                obj.remove("allOf");
            }
            for member in members {
                let (member, _) = self.resolve(&member, root, path);
                merge_into(&mut schema, &member);
            }
        }
        (schema, via)
    }

    /// Reports why the reader schema `r` may reject values valid under the
    /// writer schema `w`.
    fn compare(&mut self, w: &Value, r: &Value, path: &str) {
        let (w, w_ref) = self.resolve(w, self.writer_root, path);
        let (r, r_ref) = self.resolve(r, self.reader_root, path);
        if let (Some(a), Some(b)) = (&w_ref, &r_ref) {
            let pair = (a.clone(), b.clone());
            if self.refs.contains(&pair) {
                // Already being compared further up: a recursive schema.
                return;
            }
            self.refs.push(pair);
            self.compare_resolved(&w, &r, path);
            self.refs.pop();
        } else {
            self.compare_resolved(&w, &r, path);
        }
    }

    fn compare_resolved(&mut self, w: &Value, r: &Value, path: &str) {
        if accepts_anything(r) || w == &Value::Bool(false) {
            return;
        }
        if r == &Value::Bool(false) {
            self.report(Rule::TypeNarrowed, path, "the reader accepts nothing");
            return;
        }
        let empty = Map::new();
        let w_obj = w.as_object().unwrap_or(&empty);
        let r_obj = r.as_object().unwrap_or(&empty);
        match (union_members(w_obj), union_members(r_obj)) {
            (None, None) => self.compare_plain(w_obj, r_obj, path),
            (Some((kw, members)), r_members) => {
                // Whatever else the writer says applies to each member.
                let rest = without_union(w_obj);
                for (i, member) in members.iter().enumerate() {
                    let mut member = self.resolve(member, self.writer_root, path).0;
                    merge_into(&mut member, &Value::Object(rest.clone()));
                    let member_path = format!("{path}/{kw}/{i}");
                    match &r_members {
                        Some(_) => self.member_accepted(&member, r_obj, &member_path),
                        None => self.compare(&member, r, &member_path),
                    }
                }
            }
            (None, Some(_)) => self.member_accepted(w, r_obj, path),
        }
    }

    /// A writer schema `w` against a reader union: some member must accept
    /// all of it, the one with the same tag if `w` has one.
    fn member_accepted(&mut self, w: &Value, r_obj: &Map<String, Value>, path: &str) {
        let Some((_, members)) = union_members(r_obj) else {
            return;
        };
        let rest = Value::Object(without_union(r_obj));
        let members: Vec<Value> = members
            .iter()
            .map(|m| {
                let mut m = self.resolve(m, self.reader_root, path).0;
                merge_into(&mut m, &rest);
                m
            })
            .collect();
        if let Some(tag) = tag_of(w) {
            match members.iter().find(|m| tag_of(m).as_ref() == Some(&tag)) {
                Some(m) => self.compare(w, m, path),
                None => self.report(
                    Rule::SumTypeNarrowed,
                    path,
                    format!("the reader has no member with `{}` = {}", tag.0, tag.1),
                ),
            }
            return;
        }
        let mut best: Option<Vec<(Rule, String, String)>> = None;
        for m in &members {
            let mut trial = self.trial();
            trial.compare(w, m, path);
            if trial.found.is_empty() {
                return;
            }
            if best.as_ref().map_or(true, |b| trial.found.len() < b.len()) {
                best = Some(trial.found);
            }
        }
        match best {
            Some(found) if members.len() == 1 => self.found.extend(found),
            _ => self.report(
                Rule::SumTypeNarrowed,
                path,
                "no member of the reader's union accepts this schema",
            ),
        }
    }

    fn compare_plain(&mut self, w: &Map<String, Value>, r: &Map<String, Value>, path: &str) {
        let w_types = types_of(w);
        let r_types = types_of(r);
        if let Some(r_types) = &r_types {
            match &w_types {
                None => self.report(
                    Rule::TypeNarrowed,
                    path,
                    format!(
                        "the writer allows any type, the reader only {}",
                        list(r_types)
                    ),
                ),
                Some(w_types) => {
                    let missing: Vec<&str> = w_types
                        .iter()
                        .filter(|t| !type_accepts(r_types, t))
                        .map(String::as_str)
                        .collect();
                    // `number` and `integer` overlap: narrowed, not changed.
                    let overlap = w_types.iter().any(|t| {
                        type_accepts(r_types, t) || (t == "number" && r_types.contains("integer"))
                    });
                    if !overlap {
                        self.report(
                            Rule::TypeChanged,
                            path,
                            format!("{} became {}", list(w_types), list(r_types)),
                        );
                        return;
                    } else if !missing.is_empty() {
                        self.report(
                            Rule::TypeNarrowed,
                            path,
                            format!(
                                "{} became {}: {} no longer accepted",
                                list(w_types),
                                list(r_types),
                                missing.join(", ")
                            ),
                        );
                    }
                }
            }
        }
        let both = |t: &str| {
            let has = |types: &Option<BTreeSet<String>>| {
                types.as_ref().map_or(true, |ts| {
                    ts.contains(t) || (t == "integer" && ts.contains("number"))
                })
            };
            has(&w_types) && has(&r_types)
        };
        self.compare_values(w, r, path);
        if both("number") || both("integer") {
            self.compare_numbers(w, r, path);
        }
        if both("string") {
            self.compare_strings(w, r, path);
        }
        if both("array") {
            self.compare_arrays(w, r, path);
        }
        if both("object") {
            self.compare_objects(w, r, path);
        }
    }

    fn compare_values(&mut self, w: &Map<String, Value>, r: &Map<String, Value>, path: &str) {
        let Some(r_values) = allowed_values(r) else {
            return;
        };
        let Some(w_values) = allowed_values(w) else {
            self.report(
                Rule::EnumArrayNarrowed,
                path,
                format!("the reader only accepts {}", values(&r_values)),
            );
            return;
        };
        let missing: Vec<&Value> = w_values.iter().filter(|v| !r_values.contains(v)).collect();
        if missing.is_empty() {
            return;
        }
        let rule = if missing.len() == w_values.len() {
            Rule::EnumArrayChanged
        } else {
            Rule::EnumArrayNarrowed
        };
        let missing: Vec<Value> = missing.into_iter().cloned().collect();
        self.report(
            rule,
            path,
            format!("{} no longer accepted", values(&missing)),
        );
    }

    fn compare_numbers(&mut self, w: &Map<String, Value>, r: &Map<String, Value>, path: &str) {
        let bound = |m: &Map<String, Value>, keys: [&str; 2], max: bool| {
            keys.iter()
                .filter_map(|k| m.get(*k).and_then(Value::as_f64))
                .reduce(|a, b| if max { a.min(b) } else { a.max(b) })
        };
        let (w_max, r_max) = (
            bound(w, ["maximum", "exclusiveMaximum"], true),
            bound(r, ["maximum", "exclusiveMaximum"], true),
        );
        self.upper(
            w_max,
            r_max,
            path,
            "maximum",
            Rule::MaximumAdded,
            Rule::MaximumDecreased,
        );
        let (w_min, r_min) = (
            bound(w, ["minimum", "exclusiveMinimum"], false),
            bound(r, ["minimum", "exclusiveMinimum"], false),
        );
        self.lower(
            w_min,
            r_min,
            path,
            "minimum",
            Rule::MinimumAdded,
            Rule::MinimumIncreased,
        );
    }

    fn compare_strings(&mut self, w: &Map<String, Value>, r: &Map<String, Value>, path: &str) {
        let num = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_f64);
        self.upper(
            num(w, "maxLength"),
            num(r, "maxLength"),
            path,
            "maxLength",
            Rule::MaxLengthAdded,
            Rule::MaxLengthDecreased,
        );
        self.lower(
            num(w, "minLength"),
            num(r, "minLength"),
            path,
            "minLength",
            Rule::MinLengthAdded,
            Rule::MinLengthIncreased,
        );
        match (w.get("pattern"), r.get("pattern")) {
            (None, Some(p)) => self.report(Rule::PatternAdded, path, format!("pattern {p} added")),
            (Some(a), Some(b)) if a != b => {
                self.report(
                    Rule::PatternChanged,
                    path,
                    format!("pattern {a} became {b}"),
                );
            }
            _ => {}
        }
    }

    fn compare_arrays(&mut self, w: &Map<String, Value>, r: &Map<String, Value>, path: &str) {
        let num = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_f64);
        self.upper(
            num(w, "maxItems"),
            num(r, "maxItems"),
            path,
            "maxItems",
            Rule::MaxItemsAdded,
            Rule::MaxItemsDecreased,
        );
        self.lower(
            num(w, "minItems"),
            num(r, "minItems"),
            path,
            "minItems",
            Rule::MinItemsAdded,
            Rule::MinItemsIncreased,
        );
        let unique = |m: &Map<String, Value>| m.get("uniqueItems") == Some(&Value::Bool(true));
        if unique(r) && !unique(w) {
            self.report(Rule::UniqueItemsAdded, path, "items must now be unique");
        }
        let any = Value::Bool(true);
        match (w.get("items"), r.get("items")) {
            (Some(Value::Array(ws)), Some(Value::Array(rs))) => {
                for (i, (wi, ri)) in ws.iter().zip(rs).enumerate() {
                    self.compare(wi, ri, &format!("{path}/items/{i}"));
                }
            }
            (Some(Value::Array(ws)), Some(ri)) => {
                for (i, wi) in ws.iter().enumerate() {
                    self.compare(wi, ri, &format!("{path}/items/{i}"));
                }
            }
            // A reader's tuple against a writer's list: not compared.
            (_, None | Some(Value::Array(_))) => {}
            (wi, Some(ri)) => self.compare(wi.unwrap_or(&any), ri, &format!("{path}/items")),
        }
    }

    fn compare_objects(&mut self, w: &Map<String, Value>, r: &Map<String, Value>, path: &str) {
        let empty = Map::new();
        let w_props = w
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let r_props = r
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let w_required = required(w);
        let r_required = required(r);
        let w_content = content(w);
        let r_content = content(r);
        for (name, r_prop) in r_props {
            let prop_path = format!("{path}/properties/{}", escape(name));
            if let Some(w_prop) = w_props.get(name) {
                self.compare(w_prop, r_prop, &prop_path);
                if r_required.contains(name) && !w_required.contains(name) {
                    self.report(
                        Rule::RequiredAttributeAdded,
                        &format!("{path}/required/{}", escape(name)),
                        format!("`{name}` is now required"),
                    );
                }
                continue;
            }
            match &w_content {
                Content::Open => {
                    if !accepts_anything(r_prop) {
                        self.report(
                            Rule::PropertyAddedToOpenContentModel,
                            &prop_path,
                            format!(
                                "`{name}` added, where the writer's open content model allowed any value"
                            ),
                        );
                    }
                }
                Content::Partial(extra) => {
                    let mut trial = self.trial();
                    trial.compare(extra, r_prop, &prop_path);
                    if !trial.found.is_empty() {
                        self.report(
                            Rule::PropertyAddedNotCoveredByPartiallyOpenContentModel,
                            &prop_path,
                            format!(
                                "`{name}` added, and the writer's additionalProperties allow values it rejects"
                            ),
                        );
                    }
                }
                Content::Closed => {}
            }
            if r_required.contains(name) {
                self.report(
                    Rule::RequiredPropertyAddedToUnopenContentModel,
                    &prop_path,
                    format!("`{name}` added as required: the writer does not write it"),
                );
            }
        }
        for (name, w_prop) in w_props {
            if r_props.contains_key(name) {
                continue;
            }
            let prop_path = format!("{path}/properties/{}", escape(name));
            match &r_content {
                Content::Open => {}
                Content::Closed => self.report(
                    Rule::PropertyRemovedFromClosedContentModel,
                    &prop_path,
                    format!("`{name}` removed, and the reader's closed content model rejects it"),
                ),
                Content::Partial(extra) => {
                    let mut trial = self.trial();
                    trial.compare(w_prop, extra, &prop_path);
                    if !trial.found.is_empty() {
                        self.report(
                            Rule::PropertyRemovedNotCoveredByPartiallyOpenContentModel,
                            &prop_path,
                            format!(
                                "`{name}` removed, and the reader's additionalProperties reject its values"
                            ),
                        );
                    }
                }
            }
        }
        let extra_path = format!("{path}/additionalProperties");
        match (&w_content, &r_content) {
            (Content::Closed, _) | (_, Content::Open) => {}
            (_, Content::Closed) => self.report(
                Rule::AdditionalPropertiesRemoved,
                &extra_path,
                "the writer allows additional properties, the reader does not",
            ),
            (Content::Open, Content::Partial(_)) => self.report(
                Rule::AdditionalPropertiesNarrowed,
                &extra_path,
                "additional properties of any value became additional properties of a schema",
            ),
            (Content::Partial(a), Content::Partial(b)) => {
                let mut trial = self.trial();
                trial.compare(a, b, &extra_path);
                if !trial.found.is_empty() {
                    self.report(
                        Rule::AdditionalPropertiesNarrowed,
                        &extra_path,
                        "the reader's additionalProperties reject values the writer's allow",
                    );
                }
            }
        }
        let num = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_f64);
        self.upper(
            num(w, "maxProperties"),
            num(r, "maxProperties"),
            path,
            "maxProperties",
            Rule::MaxPropertiesAdded,
            Rule::MaxPropertiesDecreased,
        );
        self.lower(
            num(w, "minProperties"),
            num(r, "minProperties"),
            path,
            "minProperties",
            Rule::MinPropertiesAdded,
            Rule::MinPropertiesIncreased,
        );
    }

    fn upper(
        &mut self,
        w: Option<f64>,
        r: Option<f64>,
        path: &str,
        key: &str,
        added: Rule,
        decreased: Rule,
    ) {
        match (w, r) {
            (None, Some(r)) => self.report(added, path, format!("{key} {r} added")),
            (Some(w), Some(r)) if r < w => {
                self.report(decreased, path, format!("{key} lowered from {w} to {r}"));
            }
            _ => {}
        }
    }

    fn lower(
        &mut self,
        w: Option<f64>,
        r: Option<f64>,
        path: &str,
        key: &str,
        added: Rule,
        increased: Rule,
    ) {
        match (w, r) {
            (None, Some(r)) => self.report(added, path, format!("{key} {r} added")),
            (Some(w), Some(r)) if r > w => {
                self.report(increased, path, format!("{key} raised from {w} to {r}"));
            }
            _ => {}
        }
    }
}

/// Whether a schema constrains nothing.
fn accepts_anything(schema: &Value) -> bool {
    match schema {
        Value::Bool(b) => *b,
        Value::Object(m) => m
            .keys()
            .all(|k| ANNOTATIONS.contains(&k.as_str()) || k.starts_with("x-")),
        _ => false,
    }
}

fn union_members(m: &Map<String, Value>) -> Option<(&'static str, &Vec<Value>)> {
    ["oneOf", "anyOf"]
        .into_iter()
        .find_map(|kw| m.get(kw).and_then(Value::as_array).map(|a| (kw, a)))
}

fn without_union(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, _)| {
            *k != "oneOf"
                && *k != "anyOf"
                && !ANNOTATIONS.contains(&k.as_str())
                && !k.starts_with("x-")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Merges the keywords of `other` into `schema` (an `allOf` member, or the
/// keywords next to a union): properties and required lists are joined,
/// other keywords taken from `other` when `schema` lacks them.
fn merge_into(schema: &mut Value, other: &Value) {
    let Value::Object(other) = other else {
        return;
    };
    if !schema.is_object() {
        if schema == &Value::Bool(true) {
            *schema = Value::Object(Map::new());
        } else {
            return;
        }
    }
    let Value::Object(obj) = schema else {
        return;
    };
    for (k, v) in other {
        match (k.as_str(), obj.get_mut(k), v) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => {
                for (name, prop) in theirs {
                    mine.entry(name.clone()).or_insert_with(|| prop.clone());
                }
            }
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for name in theirs {
                    if !mine.contains(name) {
                        mine.push(name.clone());
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, _) => {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The types a schema allows: its `type`, else those of its `enum`/`const`
/// values, else (with `properties`) `object`; `None` for any.
fn types_of(m: &Map<String, Value>) -> Option<BTreeSet<String>> {
    match m.get("type") {
        Some(Value::String(t)) => return Some(BTreeSet::from([t.clone()])),
        Some(Value::Array(ts)) => {
            return Some(
                ts.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            );
        }
        _ => {}
    }
    if let Some(values) = allowed_values(m) {
        return Some(values.iter().map(|v| json_type(v).to_owned()).collect());
    }
    None
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_accepts(types: &BTreeSet<String>, t: &str) -> bool {
    types.contains(t) || (t == "integer" && types.contains("number"))
}

fn allowed_values(m: &Map<String, Value>) -> Option<Vec<Value>> {
    if let Some(c) = m.get("const") {
        return Some(vec![c.clone()]);
    }
    m.get("enum").and_then(Value::as_array).cloned()
}

/// The tag of a union member: a required property whose schema is a
/// string `const`.
fn tag_of(schema: &Value) -> Option<(String, Value)> {
    let props = schema.get("properties")?.as_object()?;
    let required = schema.get("required")?.as_array()?;
    required.iter().filter_map(Value::as_str).find_map(|name| {
        let c = props.get(name)?.get("const")?;
        c.is_string().then(|| (name.to_owned(), c.clone()))
    })
}

fn required(m: &Map<String, Value>) -> BTreeSet<String> {
    m.get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn content(m: &Map<String, Value>) -> Content {
    let patterns = m
        .get("patternProperties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    match m.get("additionalProperties") {
        Some(Value::Bool(false)) if !patterns => Content::Closed,
        Some(schema) if !patterns && !accepts_anything(schema) => Content::Partial(schema.clone()),
        _ => Content::Open,
    }
}

fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn list(types: &BTreeSet<String>) -> String {
    types
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("|")
}

fn values(vs: &[Value]) -> String {
    vs.iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
