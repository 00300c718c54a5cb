//! `#[derive(KafkaMessage)]`: parse, validate, expand.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::DeriveInput;

use crate::ast::{Container, Field, Style};
use crate::ctxt::Ctxt;
use crate::flatten::{base_bound, flatten_impls};

pub(crate) fn expand(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::default();
    let c = Container::parse(&cx, input);
    validate(&cx, &c);
    match cx.check() {
        Ok(()) => expand_valid(&c),
        Err(errors) => {
            let errors = errors.into_compile_error();
            let stub = stub(&c);
            quote! { #errors #stub }
        }
    }
}

/// Reports every mistake in the attributes, each at its span.
fn validate(cx: &Ctxt, c: &Container<'_>) {
    validate_type_attrs(cx, c);
    validate_key(cx, c);
    validate_base(cx, c);
    crate::evolution::validate(cx, c);
}

/// `topic`, `name` and `version` on the type.
fn validate_type_attrs(cx: &Ctxt, c: &Container<'_>) {
    if let Some(topic) = &c.topic {
        if let Err(why) = check_topic(&topic.value()) {
            cx.error_spanned_by(topic, format!("invalid topic name: {why}"));
        }
    }
    if let Some(name) = &c.name {
        if name.value().is_empty() {
            cx.error_spanned_by(name, "`name` must not be empty");
        }
    }
    if let Some(version) = &c.version {
        if let Err(e) = version.base10_parse::<u32>() {
            cx.error_spanned_by(version, format!("`version` must be a u32 literal: {e}"));
        }
    }
}

/// One key at most: a `#[kafka(key)]` field or `key = "field"` on the type.
fn validate_key(cx: &Ctxt, c: &Container<'_>) {
    let key_fields: Vec<&Field<'_>> = c.fields.iter().filter(|f| f.key.is_some()).collect();
    if let Some(extra) = key_fields.get(1) {
        cx.error_spanned_by(
            extra.field,
            "only one field can be `#[kafka(key)]`; combine the parts into one key type",
        );
    }
    if let (Some(named), Some(first)) = (&c.key, key_fields.first()) {
        cx.error_spanned_by(
            first.field,
            format!(
                "the key is already given on the type as `key = {:?}`; remove one of the two",
                named.value()
            ),
        );
    }
    if let Some(named) = &c.key {
        if c.style == Style::Enum {
            cx.error_spanned_by(named, "`key` is not supported on enums; derive on a struct");
        } else if c.key_field().is_none() {
            cx.error_spanned_by(
                named,
                format!("no field named `{}` to use as the key", named.value()),
            );
        }
    }
}

/// One base at most, on a plain named struct, with only the serde
/// attributes the derive understands, and no field written twice.
fn validate_base(cx: &Ctxt, c: &Container<'_>) {
    let bases: Vec<&Field<'_>> = c.fields.iter().filter(|f| f.base.is_some()).collect();
    if let Some(extra) = bases.get(1) {
        cx.error_spanned_by(
            extra.field,
            "only one field can be `#[kafka(base)]`: a type extends one base; \
             make the base itself extend the next one",
        );
    }
    if let Some(base) = bases.first() {
        if c.style != Style::Named {
            cx.error_spanned_by(
                base.field,
                "`#[kafka(base)]` needs a struct with named fields",
            );
        }
        if !c.input.generics.params.is_empty() {
            cx.error_spanned_by(
                &c.input.generics,
                "a struct with a `#[kafka(base)]` field cannot be generic",
            );
        }
        if let Some(attr) = c.serde_container {
            cx.error_spanned_by(
                attr,
                "container `#[serde(...)]` attributes are not supported with `#[kafka(base)]`: \
                 the derive writes this struct's Serialize and Deserialize itself; \
                 use `#[kafka(rename = \"...\")]` on fields",
            );
        }
        for f in &c.fields {
            if let Some(e) = &f.serde_error {
                cx.syn_error(e.clone());
            }
            if let Some((span, what)) = &f.serde_unsupported {
                cx.syn_error(syn::Error::new(
                    *span,
                    format!(
                        "`#[serde({what})]` is not supported with `#[kafka(base)]`; \
                         supported: rename, default, alias"
                    ),
                ));
            }
        }
        if base.key.is_some() {
            cx.error_spanned_by(base.field, "the base field cannot be the key");
        }
    }
    if c.style == Style::Named && c.base().is_some() {
        let mut seen = std::collections::HashSet::new();
        for f in &c.fields {
            if f.base.is_none() && !seen.insert(f.wire_name.clone()) {
                cx.error_spanned_by(
                    f.field,
                    format!(
                        "two fields are written as `{}`; give one another name with \
                         `#[kafka(rename = \"...\")]`",
                        f.wire_name
                    ),
                );
            }
        }
    }
}

/// Kafka's rules for topic names.
fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("it is empty".into());
    }
    if topic == "." || topic == ".." {
        return Err("`.` and `..` are reserved".into());
    }
    if topic.len() > 249 {
        return Err(format!("{} characters, more than Kafka's 249", topic.len()));
    }
    if let Some(bad) = topic
        .chars()
        .find(|ch| !(ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-')))
    {
        return Err(format!(
            "`{bad}` is not allowed; use ASCII letters, digits, `.`, `_` and `-`"
        ));
    }
    Ok(())
}

fn name_of(c: &Container<'_>) -> String {
    c.name
        .as_ref()
        .map_or_else(|| c.input.ident.to_string(), syn::LitStr::value)
}

/// What users see when the input has errors: the trait still implemented,
/// so the errors above are the only ones.
fn stub(c: &Container<'_>) -> TokenStream {
    if matches!(c.input.data, syn::Data::Union(_)) {
        // Nothing can use a union as a message anyway, and a stub impl would
        // only add "`Serialize` is not implemented" errors.
        return TokenStream::new();
    }
    let ident = &c.input.ident;
    let (impl_generics, ty_generics, _) = c.input.generics.split_for_impl();
    let where_clause = message_where_clause(c);
    let name = name_of(c);
    // A struct with a base gets its serde impls from us; stand in for them.
    // Generic ones cannot have a base, and their stub is bounded on serde.
    let serde_stub = if c.base().is_some() && c.input.generics.params.is_empty() {
        quote! {
            impl ::kafka_codec::__private::serde::Serialize for #ident {
                fn serialize<S: ::kafka_codec::__private::serde::Serializer>(&self, _: S)
                    -> ::kafka_codec::__private::Result<S::Ok, S::Error> { unimplemented!() }
            }
            impl<'de> ::kafka_codec::__private::serde::Deserialize<'de> for #ident {
                fn deserialize<D: ::kafka_codec::__private::serde::Deserializer<'de>>(_: D)
                    -> ::kafka_codec::__private::Result<Self, D::Error> { unimplemented!() }
            }
        }
    } else {
        TokenStream::new()
    };
    quote! {
        const _: () = {
            #serde_stub
            impl #impl_generics ::kafka_codec::KafkaMessage for #ident #ty_generics #where_clause {
                type Codec = ::kafka_codec::Json;
                const NAME: &'static str = #name;
            }
        };
    }
}

/// The where clause of the `KafkaMessage` impl. Generic types need the
/// supertraits stated, as serde's derive bounds them on the type parameters.
fn message_where_clause(c: &Container<'_>) -> TokenStream {
    let where_clause = &c.input.generics.where_clause;
    if c.input.generics.params.is_empty() {
        let Some(base) = c.base() else {
            return quote!(#where_clause);
        };
        let preds = where_clause.iter().flat_map(|w| &w.predicates);
        let bound = base_bound(base);
        return quote!(where #(#preds,)* #bound);
    }
    // Each predicate with its own comma: the user's list may lack a trailing one.
    let preds = where_clause.iter().flat_map(|w| &w.predicates);
    quote! {
        where
            #(#preds,)*
            Self: ::kafka_codec::__private::serde::Serialize
                + ::kafka_codec::__private::serde::de::DeserializeOwned
                + ::core::marker::Send + ::core::marker::Sync + 'static,
    }
}

fn expand_valid(c: &Container<'_>) -> TokenStream {
    let ident = &c.input.ident;
    let (impl_generics, ty_generics, _) = c.input.generics.split_for_impl();
    let name = name_of(c);
    let codec = c
        .codec
        .as_ref()
        .map_or_else(|| quote!(::kafka_codec::Json), |ty| quote!(#ty));
    let topic = match &c.topic {
        Some(t) => quote!(::kafka_codec::__private::Option::Some(#t)),
        None => quote!(::kafka_codec::__private::Option::None),
    };
    let version = match &c.version {
        Some(v) => quote!(::kafka_codec::__private::Option::Some(#v)),
        None => quote!(::kafka_codec::__private::Option::None),
    };
    let write_key = c.key_field().map(|f| {
        let member = &f.member;
        let span = f.ty().span();
        let call = quote_spanned! {span=>
            ::kafka_codec::ToKey::write_key(&self.#member, buf)
        };
        quote! {
            fn write_key(&self, buf: &mut ::kafka_codec::__private::Vec<u8>) -> bool {
                #call
            }
        }
    });
    let where_clause = message_where_clause(c);
    let flatten = flatten_impls(c);
    let evolution = crate::evolution::items(c);
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics ::kafka_codec::KafkaMessage for #ident #ty_generics #where_clause {
                type Codec = #codec;
                const NAME: &'static str = #name;
                const TOPIC: ::kafka_codec::__private::Option<&'static str> = #topic;
                const VERSION: ::kafka_codec::__private::Option<u32> = #version;
                #write_key
                #evolution
            }
            #flatten
        };
    }
}
