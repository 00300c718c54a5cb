//! What makes a struct a base or an extension: `Flatten` for plain named
//! structs (so they can be a base), and for structs with a
//! `#[kafka(base)]` field also `Serialize`, `Deserialize`, `Deref` and
//! friends, with the base's fields flattened in.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{is_option, Container, Field, Style};

/// Everything `#[derive(KafkaMessage)]` writes for the hierarchy; nothing
/// for types that cannot be a base (generic, tuple, serde container
/// attributes, serde field attributes the derive cannot mirror).
pub(crate) fn flatten_impls(c: &Container<'_>) -> TokenStream {
    let plain = c.style == Style::Named
        && c.input.generics.params.is_empty()
        && c.serde_container.is_none()
        && c.fields.iter().all(|f| f.serde_unsupported.is_none());
    if !plain {
        return TokenStream::new();
    }
    let own = Own::new(c);
    let base = c.base().map(Base::new);
    let flatten = flatten_impl(c, &own, base.as_ref());
    let Some(base) = base else {
        return flatten;
    };
    let serde = serde_impls(c, &base);
    let conversions = base_conversions(c, &base);
    let schema = crate::schema::hierarchy_impl(c, base.field);
    quote!(#flatten #serde #conversions #schema)
}

/// The where clause that states the base is `Flatten`, at the base field's
/// type: if it is not, the user sees that one error (rustc folds the
/// identical ones) instead of one per use inside the items.
pub(crate) fn base_bound(base: &Field<'_>) -> TokenStream {
    let bt = base.ty();
    quote_spanned!(bt.span()=> #bt: ::kafka_codec::__private::Flatten)
}

/// The struct's own fields (not the base), as the generated code names them.
struct Own<'c> {
    fields: Vec<&'c Field<'c>>,
    variants: Vec<syn::Ident>,
    /// The wire names.
    wire: Vec<&'c str>,
}

impl<'c> Own<'c> {
    fn new(c: &'c Container<'c>) -> Self {
        let fields: Vec<&Field<'_>> = c.fields.iter().filter(|f| f.base.is_none()).collect();
        Own {
            variants: (0..fields.len()).map(|i| format_ident!("F{}", i)).collect(),
            wire: fields.iter().map(|f| f.wire_name.as_str()).collect(),
            fields,
        }
    }
}

/// The base field, and the pieces of generated code that involve it.
struct Base<'c> {
    field: &'c Field<'c>,
    /// `where <Base>: Flatten`.
    bound: TokenStream,
}

impl<'c> Base<'c> {
    fn new(field: &'c Field<'c>) -> Self {
        let bound = base_bound(field);
        Base {
            field,
            bound: quote!(where #bound),
        }
    }
}

/// For each own field, a compile-time check that the base does not write
/// that name already.
fn collision_checks(c: &Container<'_>, own: &Own<'_>, base: &Base<'_>) -> Vec<TokenStream> {
    let p = quote!(::kafka_codec::__private);
    let ident = &c.input.ident;
    let bt = base.field.ty();
    let base_name = quote!(#bt).to_string().replace(' ', "");
    own.fields
        .iter()
        .zip(&own.wire)
        .map(|(f, w)| {
            let msg = format!(
                "the field `{w}` of `{ident}` is also written by its base `{base_name}`: \
                 give it another name with `#[kafka(rename = \"...\")]`"
            );
            quote_spanned! {f.field.span()=>
                const _: () = if #p::contains(<#bt as #p::Flatten>::NAMES, #w) {
                    ::core::panic!(#msg)
                };
            }
        })
        .collect()
}

/// `impl Flatten`, with the field enum and the partial struct it fills.
///
/// Over 80 lines because of one `quote!` of the trait's impl: its items
/// belong together, and what varies with the base is computed before it
/// (`BaseParts`).
fn flatten_impl(c: &Container<'_>, own: &Own<'_>, base: Option<&Base<'_>>) -> TokenStream {
    let p = quote!(::kafka_codec::__private);
    let ident = &c.input.ident;
    let Own { variants, wire, .. } = own;
    let members: Vec<_> = own.fields.iter().map(|f| &f.member).collect();
    let aliases: Vec<_> = own.fields.iter().map(|f| &f.aliases).collect();
    let n_own = own.fields.len();
    let finish = own.fields.iter().zip(wire).map(|(f, w)| {
        let m = &f.member;
        if f.default {
            quote!(partial.#m.unwrap_or_default())
        } else if is_option(f.ty()) {
            quote!(partial.#m.unwrap_or(#p::Option::None))
        } else {
            quote!(#p::required(partial.#m, #w)?)
        }
    });
    let parts = BaseParts::new(base);
    let BaseParts {
        len: base_len,
        names: base_names,
        lookup: base_lookup,
        fill: base_fill,
        finish: base_finish,
        serialize: base_ser,
        views: base_views,
        ..
    } = &parts;
    let base_bound = base.map(|b| &b.bound);
    let collisions = base.map_or_else(Vec::new, |b| collision_checks(c, own, b));
    let types = field_and_partial(own, &parts, base_bound);
    quote! {
        #(#collisions)*

        #types

        #[automatically_derived]
        impl #p::Flatten for #ident #base_bound {
            type Field = __KcField;
            type Partial = __KcPartial;
            const LEN: usize = #n_own #base_len;
            // The wire names, inherited ones first.
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
                    _ => #base_lookup,
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
    }
}

/// The enum of the fields `impl Flatten` reads, and the struct it fills.
fn field_and_partial(
    own: &Own<'_>,
    parts: &BaseParts,
    base_bound: Option<&TokenStream>,
) -> TokenStream {
    let p = quote!(::kafka_codec::__private);
    let variants = &own.variants;
    let members: Vec<_> = own.fields.iter().map(|f| &f.member).collect();
    let tys: Vec<_> = own.fields.iter().map(|f| f.ty()).collect();
    let BaseParts {
        variant: base_variant,
        partial: base_partial,
        default: base_default,
        ..
    } = parts;
    quote! {
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
    }
}

/// The base's share of each item of `impl Flatten`: empty (or the no-base
/// answer) for a struct without one.
#[derive(Default)]
struct BaseParts {
    variant: TokenStream,
    partial: TokenStream,
    len: TokenStream,
    names: TokenStream,
    lookup: TokenStream,
    fill: TokenStream,
    finish: TokenStream,
    serialize: TokenStream,
    default: TokenStream,
    views: TokenStream,
}

impl BaseParts {
    fn new(base: Option<&Base<'_>>) -> Self {
        let p = quote!(::kafka_codec::__private);
        let Some(base) = base else {
            return BaseParts {
                lookup: quote!(#p::Option::None),
                ..BaseParts::default()
            };
        };
        let bt = base.field.ty();
        let bm = &base.field.member;
        let flat = quote!(<#bt as #p::Flatten>);
        BaseParts {
            variant: quote!(Base(#flat::Field),),
            partial: quote!(#bm: #flat::Partial,),
            len: quote!(+ #flat::LEN),
            names: quote! {
                let base = #flat::NAMES;
                while i < base.len() {
                    all[i] = base[i];
                    i += 1;
                }
            },
            lookup: quote!(match #flat::field(name) {
                #p::Option::Some(f) => #p::Option::Some(__KcField::Base(f)),
                #p::Option::None => #p::Option::None,
            }),
            fill: quote!(__KcField::Base(f) => #flat::fill(&mut partial.#bm, f, map),),
            finish: quote!(#bm: #flat::finish(partial.#bm)?,),
            serialize: quote!(#flat::serialize_fields(&self.#bm, s)?;),
            default: quote!(#bm: ::core::default::Default::default(),),
            views: quote!(|| #flat::visit_views(&self.#bm, f)),
        }
    }
}

/// `Serialize` and `Deserialize` through `Flatten`, for a struct with a base.
fn serde_impls(c: &Container<'_>, base: &Base<'_>) -> TokenStream {
    let p = quote!(::kafka_codec::__private);
    let ident = &c.input.ident;
    let name = ident.to_string();
    let base_bound = &base.bound;
    quote! {
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
    }
}

/// `Deref`, `DerefMut`, `AsRef` to the base and `From` into it.
fn base_conversions(c: &Container<'_>, base: &Base<'_>) -> TokenStream {
    let ident = &c.input.ident;
    let bt = base.field.ty();
    let bm = &base.field.member;
    quote! {
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
