//! `JsonSchema` for what the derive owns the wire form of, with the
//! `schema` feature (enabled by kafka-codec's `schema` feature): structs
//! with a `#[kafka(base)]` field, trait objects, and the registration of
//! each implementation's schema. Without the feature, nothing.
//!
//! Every bound is written `for<'__kc> T: JsonSchema`: a bound that names no
//! parameter would be checked where the impl is written, so a hierarchy
//! whose fields have no schema would stop compiling as soon as any crate
//! in the build turns the feature on. Higher-ranked, it is checked where
//! the schema is asked for instead.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::{is_option, Container, Field};

/// `JsonSchema` for a struct with a base: the base's properties, then the
/// struct's own, each required exactly when the derived `Deserialize`
/// requires it (not an `Option`, no `default`).
pub(crate) fn hierarchy_impl(c: &Container<'_>, base: &Field<'_>) -> TokenStream {
    if !cfg!(feature = "schema") {
        return TokenStream::new();
    }
    let p = quote!(::kafka_codec::__private);
    let ident = &c.input.ident;
    let name = ident.to_string();
    let bt = base.ty();
    let own: Vec<&Field<'_>> = c.fields.iter().filter(|f| f.base.is_none()).collect();
    let tys: Vec<_> = own.iter().map(|f| f.ty()).collect();
    let wire = own.iter().map(|f| f.wire_name.as_str());
    let optional = own.iter().map(|f| f.default || is_option(f.ty()));
    quote! {
        #[automatically_derived]
        impl #p::schemars::JsonSchema for #ident
        where
            for<'__kc> #bt: #p::schemars::JsonSchema,
            #(for<'__kc> #tys: #p::schemars::JsonSchema,)*
        {
            fn schema_name() -> #p::Cow<'static, str> {
                #p::Cow::Borrowed(#name)
            }
            fn schema_id() -> #p::Cow<'static, str> {
                #p::Cow::Borrowed(::core::concat!(::core::module_path!(), "::", #name))
            }
            fn json_schema(generator: &mut #p::schemars::SchemaGenerator) -> #p::schemars::Schema {
                let mut schema = #p::schema_with_base::<#bt>(generator);
                #( #p::schema_property::<#tys>(&mut schema, generator, #wire, #optional); )*
                schema
            }
        }
    }
}

/// `JsonSchema` for `dyn Trait` (and so `Box<dyn Trait>`): a `oneOf` of the
/// registered types.
/// The tag key is passed as written rather than read from `Polymorphic`, so
/// that a trait whose `Polymorphic` impl has errors gets no more of them.
pub(crate) fn trait_impl(ident: &syn::Ident, tag_key: &syn::LitStr) -> TokenStream {
    if !cfg!(feature = "schema") {
        return TokenStream::new();
    }
    let p = quote!(::kafka_codec::__private);
    let name = ident.to_string();
    quote! {
        #[automatically_derived]
        impl #p::schemars::JsonSchema for dyn #ident {
            fn schema_name() -> #p::Cow<'static, str> {
                #p::Cow::Borrowed(#name)
            }
            fn schema_id() -> #p::Cow<'static, str> {
                #p::Cow::Borrowed(::core::concat!(::core::module_path!(), "::dyn ", #name))
            }
            fn json_schema(generator: &mut #p::schemars::SchemaGenerator) -> #p::schemars::Schema {
                #p::poly_schema::<dyn #ident>(generator, #tag_key)
            }
        }
    }
}

/// Registers an implementation's schema (if its type has one: autoref
/// specialization, so types without `JsonSchema` still register) for the
/// trait's `oneOf`.
pub(crate) fn impl_entry(
    self_ty: &syn::Type,
    trait_path: &syn::Path,
    tag: &TokenStream,
) -> TokenStream {
    if !cfg!(feature = "schema") {
        return TokenStream::new();
    }
    let p = quote!(::kafka_codec::__private);
    quote! {
        #p::inventory::submit! {
            #p::SchemaEntry::new(
                #p::type_id::<dyn #trait_path>,
                #tag,
                <#self_ty as ::kafka_codec::KafkaMessage>::VERSION,
                #p::type_name::<#self_ty>,
                || {
                    #[allow(unused_imports)]
                    use #p::{SchemaOfJson as _, SchemaOfAny as _};
                    (&&#p::SchemaOf::<#self_ty>::new()).schema_fn()
                },
            )
        }
    }
}
