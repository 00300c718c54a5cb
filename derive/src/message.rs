//! `#[derive(KafkaMessage)]`: parse, validate, expand.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::DeriveInput;

use crate::ast::{is_option, Container, Field, Style};
use crate::ctxt::Ctxt;

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

fn validate(cx: &Ctxt, c: &Container<'_>) {
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

/// `Base: Flatten`, spanned at the base field's type, where the error
/// belongs when it does not hold.
fn base_bound(base: &Field<'_>) -> TokenStream {
    let bt = base.ty();
    quote_spanned!(bt.span()=> #bt: ::kafka_codec::__private::Flatten)
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
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics ::kafka_codec::KafkaMessage for #ident #ty_generics #where_clause {
                type Codec = #codec;
                const NAME: &'static str = #name;
                const TOPIC: ::kafka_codec::__private::Option<&'static str> = #topic;
                const VERSION: ::kafka_codec::__private::Option<u32> = #version;
                #write_key
            }
            #flatten
        };
    }
}

/// `Flatten` for plain named structs (so they can be a base), and for
/// structs with a base also `Serialize`, `Deserialize`, `Deref` and friends.
fn flatten_impls(c: &Container<'_>) -> TokenStream {
    let base = c.base();
    let plain = c.style == Style::Named
        && c.input.generics.params.is_empty()
        && c.serde_container.is_none()
        && c.fields.iter().all(|f| f.serde_unsupported.is_none());
    if !plain {
        return TokenStream::new();
    }
    let ident = &c.input.ident;
    let p = quote!(::kafka_codec::__private);
    let own: Vec<&Field<'_>> = c.fields.iter().filter(|f| f.base.is_none()).collect();
    let variants: Vec<_> = (0..own.len()).map(|i| format_ident!("F{}", i)).collect();
    let members: Vec<_> = own.iter().map(|f| &f.member).collect();
    let tys: Vec<_> = own.iter().map(|f| f.ty()).collect();
    let wire: Vec<_> = own.iter().map(|f| f.wire_name.as_str()).collect();
    let aliases: Vec<_> = own.iter().map(|f| &f.aliases).collect();
    let n_own = own.len();
    let finish: Vec<TokenStream> = own
        .iter()
        .zip(&wire)
        .map(|(f, w)| {
            let m = &f.member;
            if f.default {
                quote!(partial.#m.unwrap_or_default())
            } else if is_option(f.ty()) {
                quote!(partial.#m.unwrap_or(#p::Option::None))
            } else {
                quote!(#p::required(partial.#m, #w)?)
            }
        })
        .collect();

    // The wire names, inherited ones first, and for each own field a check,
    // at compile time, that the base does not write that name already.
    let base_names = base.map(|b| {
        let bt = b.ty();
        quote! {
            let base = <#bt as #p::Flatten>::NAMES;
            while i < base.len() {
                all[i] = base[i];
                i += 1;
            }
        }
    });
    // Every item that relies on the base being `Flatten` says so, at the
    // base field's type: if it is not, the user sees that one error (rustc
    // folds the identical ones) instead of one per use inside the items.
    let base_bound = base.map(|b| {
        let bound = base_bound(b);
        quote!(where #bound)
    });
    let collisions: Vec<TokenStream> = match base {
        None => Vec::new(),
        Some(b) => {
            let bt = b.ty();
            own.iter()
                .map(|f| {
                    let w = f.wire_name.as_str();
                    let msg = format!(
                        "the field `{w}` of `{ident}` is also written by its base `{}`: \
                         give it another name with `#[kafka(rename = \"...\")]`",
                        quote!(#bt).to_string().replace(' ', "")
                    );
                    quote_spanned! {f.field.span()=>
                        const _: () = if #p::contains(<#bt as #p::Flatten>::NAMES, #w) {
                            ::core::panic!(#msg)
                        };
                    }
                })
                .collect()
        }
    };
    let (
        base_variant,
        base_partial,
        base_len,
        base_match,
        base_fill,
        base_finish,
        base_ser,
        base_default,
        base_views,
    ) = match base {
        Some(b) => {
            let bt = b.ty();
            let bm = &b.member;
            (
                quote!(Base(<#bt as #p::Flatten>::Field),),
                quote!(#bm: <#bt as #p::Flatten>::Partial,),
                quote!(+ <#bt as #p::Flatten>::LEN),
                quote!(match <#bt as #p::Flatten>::field(name) {
                    #p::Option::Some(f) => #p::Option::Some(__KcField::Base(f)),
                    #p::Option::None => #p::Option::None,
                }),
                quote!(__KcField::Base(f) => <#bt as #p::Flatten>::fill(&mut partial.#bm, f, map),),
                quote!(#bm: <#bt as #p::Flatten>::finish(partial.#bm)?,),
                quote!(<#bt as #p::Flatten>::serialize_fields(&self.#bm, s)?;),
                quote!(#bm: ::core::default::Default::default(),),
                quote!(|| <#bt as #p::Flatten>::visit_views(&self.#bm, f)),
            )
        }
        None => (
            quote!(),
            quote!(),
            quote!(),
            quote!(#p::Option::None),
            quote!(),
            quote!(),
            quote!(),
            quote!(),
            quote!(),
        ),
    };
    let flatten = quote! {
        #(#collisions)*

        #[doc(hidden)]
        pub enum __KcField #base_bound { #(#variants,)* #base_variant }
        // By hand rather than derived, so their bound on the base reads
        // exactly as the others do and rustc reports it once.
        #[allow(clippy::expl_impl_clone_on_copy)]
        impl ::core::clone::Clone for __KcField #base_bound {
            #[inline]
            fn clone(&self) -> Self { *self }
        }
        impl ::core::marker::Copy for __KcField #base_bound {}

        #[doc(hidden)]
        pub struct __KcPartial #base_bound { #(#members: #p::Option<#tys>,)* #base_partial }
        impl ::core::default::Default for __KcPartial #base_bound {
            #[inline]
            fn default() -> Self {
                __KcPartial { #(#members: #p::Option::None,)* #base_default }
            }
        }

        #[automatically_derived]
        impl #p::Flatten for #ident #base_bound {
            type Field = __KcField;
            type Partial = __KcPartial;
            const LEN: usize = #n_own #base_len;
            #[allow(unused_mut, unused_assignments)]
            const NAMES: &'static [&'static str] = &{
                let mut all = [""; #n_own #base_len];
                let mut i = 0;
                #base_names
                #( all[i] = #wire; i += 1; )*
                let _ = i;
                all
            };

            #[inline]
            fn field(name: &str) -> #p::Option<__KcField> {
                match name {
                    #(#wire #(| #aliases)* => #p::Option::Some(__KcField::#variants),)*
                    _ => #base_match,
                }
            }

            #[inline]
            fn fill<'de, A: #p::serde::de::MapAccess<'de>>(
                partial: &mut __KcPartial,
                field: __KcField,
                map: &mut A,
            ) -> #p::Result<(), A::Error> {
                match field {
                    #(__KcField::#variants => #p::fill_slot(&mut partial.#members, #wire, map),)*
                    #base_fill
                }
            }

            #[inline]
            fn finish<E: #p::serde::de::Error>(partial: __KcPartial) -> #p::Result<Self, E> {
                #p::Result::Ok(#ident { #base_finish #(#members: #finish,)* })
            }

            #[inline]
            fn serialize_fields<S: #p::serde::ser::SerializeStruct>(&self, s: &mut S)
                -> #p::Result<(), S::Error>
            {
                #base_ser
                #(s.serialize_field(#wire, &self.#members)?;)*
                #p::Result::Ok(())
            }

            #[inline]
            fn visit_views<'a>(&'a self, f: &mut dyn FnMut(&'a dyn ::core::any::Any) -> bool) -> bool {
                f(self) #base_views
            }
        }
    };
    let Some(b) = base else {
        return flatten;
    };
    let bt = b.ty();
    let bm = &b.member;
    let name = ident.to_string();
    quote! {
        #flatten

        #[automatically_derived]
        impl #p::serde::Serialize for #ident #base_bound {
            fn serialize<S: #p::serde::Serializer>(&self, serializer: S) -> #p::Result<S::Ok, S::Error> {
                use #p::serde::ser::SerializeStruct as _;
                let mut s = serializer.serialize_struct(#name, <Self as #p::Flatten>::LEN)?;
                <Self as #p::Flatten>::serialize_fields(self, &mut s)?;
                s.end()
            }
        }

        #[automatically_derived]
        impl<'de> #p::serde::Deserialize<'de> for #ident #base_bound {
            fn deserialize<D: #p::serde::Deserializer<'de>>(deserializer: D) -> #p::Result<Self, D::Error> {
                struct __KcVisitor;
                impl<'de> #p::serde::de::Visitor<'de> for __KcVisitor #base_bound {
                    type Value = #ident;
                    fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        f.write_str(concat!("struct ", #name))
                    }
                    #[inline]
                    fn visit_map<A: #p::serde::de::MapAccess<'de>>(self, mut map: A) -> #p::Result<#ident, A::Error> {
                        let mut partial = <__KcPartial as ::core::default::Default>::default();
                        while let #p::Option::Some(key) = map.next_key_seed(#p::FieldSeed::<#ident>::new())? {
                            match key {
                                #p::Option::Some(field) => <#ident as #p::Flatten>::fill(&mut partial, field, &mut map)?,
                                #p::Option::None => { map.next_value::<#p::serde::de::IgnoredAny>()?; }
                            }
                        }
                        <#ident as #p::Flatten>::finish(partial)
                    }
                }
                deserializer.deserialize_map(__KcVisitor)
            }
        }

        #[automatically_derived]
        impl ::core::ops::Deref for #ident {
            type Target = #bt;
            #[inline]
            fn deref(&self) -> &#bt { &self.#bm }
        }
        #[automatically_derived]
        impl ::core::ops::DerefMut for #ident {
            #[inline]
            fn deref_mut(&mut self) -> &mut #bt { &mut self.#bm }
        }
        #[automatically_derived]
        impl ::core::convert::AsRef<#bt> for #ident {
            #[inline]
            fn as_ref(&self) -> &#bt { &self.#bm }
        }
        #[automatically_derived]
        impl ::core::convert::From<#ident> for #bt {
            #[inline]
            fn from(value: #ident) -> #bt { value.#bm }
        }
    }
}
