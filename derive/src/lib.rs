//! Derive macro and attribute for [kafka-codec](https://docs.rs/kafka-codec).
//!
//! Use them through `kafka_codec::KafkaMessage` and
//! `kafka_codec::polymorphic`; the generated code names only
//! `::kafka_codec::__private`, so this crate is never a dependency of yours.

mod ast;
mod ctxt;
mod evolution;
mod flatten;
mod message;
mod polymorphic;
mod schema;

use proc_macro::TokenStream;

/// Derives `kafka_codec::KafkaMessage`. Documented in `kafka_codec`.
///
/// `serde` is a helper attribute too: a struct with a `#[kafka(base)]` field
/// gets its `Serialize` and `Deserialize` from this derive (not serde's), and
/// its fields may still carry `#[serde(rename = "...")]` and
/// `#[serde(default)]`.
#[proc_macro_derive(KafkaMessage, attributes(kafka, serde))]
pub fn derive_kafka_message(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    message::expand(&input).into()
}

/// Makes a trait polymorphic, or registers an implementation of one.
/// Documented in `kafka_codec`.
#[proc_macro_attribute]
pub fn polymorphic(args: TokenStream, input: TokenStream) -> TokenStream {
    polymorphic::expand(args.into(), input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
