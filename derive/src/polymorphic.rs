//! `#[kafka_codec::polymorphic]` on a trait (makes `Box<dyn Trait>` a
//! message) and on an `impl Trait for Type` block (registers the type).

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::parse::{Parse, Parser};
use syn::spanned::Spanned;
use syn::{Item, ItemImpl, ItemTrait, LitStr};

use crate::ast::set_once;
use crate::ctxt::Ctxt;

#[derive(Default)]
struct Args {
    tag: Option<LitStr>,
    topic: Option<LitStr>,
    name: Option<LitStr>,
    aliases: Vec<LitStr>,
    codec: Option<syn::Type>,
    codecs: Option<Vec<syn::Type>>,
}

fn parse_args(cx: &Ctxt, args: TokenStream, on_trait: bool) -> Args {
    let mut a = Args::default();
    // Mistakes are collected, not returned, so that every one is reported and
    // the item still expands with the arguments that were right.
    let parser = syn::meta::parser(|meta| {
        let span = meta.path.span();
        if on_trait && meta.path.is_ident("tag") {
            set_once(cx, &mut a.tag, meta.value()?.parse()?, "tag", span);
        } else if on_trait && meta.path.is_ident("topic") {
            set_once(cx, &mut a.topic, meta.value()?.parse()?, "topic", span);
        } else if on_trait && meta.path.is_ident("codec") {
            set_once(cx, &mut a.codec, meta.value()?.parse()?, "codec", span);
        } else if on_trait && meta.path.is_ident("codecs") {
            let content;
            syn::parenthesized!(content in meta.input);
            let types = content.parse_terminated(syn::Type::parse, syn::Token![,])?;
            set_once(
                cx,
                &mut a.codecs,
                types.into_iter().collect(),
                "codecs",
                span,
            );
        } else if !on_trait && meta.path.is_ident("name") {
            set_once(cx, &mut a.name, meta.value()?.parse()?, "name", span);
        } else if !on_trait && meta.path.is_ident("alias") {
            let alias: LitStr = meta.value()?.parse()?;
            if alias.value().is_empty() {
                cx.error_spanned_by(&alias, "an alias is an old tag; it cannot be empty");
            } else if a.aliases.iter().any(|seen| seen.value() == alias.value()) {
                cx.error_spanned_by(&alias, "this alias is given twice; keep one");
            } else if a.name.as_ref().is_some_and(|n| n.value() == alias.value()) {
                cx.error_spanned_by(&alias, "the alias is the type's own tag; remove it");
            } else {
                a.aliases.push(alias);
            }
        } else {
            let expected = if on_trait {
                "on a trait: tag, topic, codec, codecs"
            } else {
                "on an impl: name, alias"
            };
            cx.syn_error(meta.error(format!(
                "unknown argument `{}`; expected {expected}",
                meta.path.to_token_stream().to_string().replace(' ', "")
            )));
            if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _: proc_macro2::Group = meta.input.parse()?;
            }
        }
        Ok(())
    });
    if let Err(e) = parser.parse2(args) {
        cx.syn_error(e);
    }
    a
}

/// On errors, the errors plus `fallback`: the item as written, or its
/// expansion with the arguments that were right, so nothing that uses the
/// item fails as well.
fn with_errors(cx: Ctxt, fallback: TokenStream) -> TokenStream {
    match cx.check() {
        Ok(()) => fallback,
        Err(e) => {
            let errors = e.into_compile_error();
            quote!(#errors #fallback)
        }
    }
}

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> syn::Result<TokenStream> {
    let item: Item = syn::parse2(input)?;
    let cx = Ctxt::default();
    match item {
        Item::Trait(t) => {
            let args = parse_args(&cx, args, true);
            if !t.generics.params.is_empty() {
                cx.error_spanned_by(&t.generics, "polymorphic traits cannot be generic");
                return Ok(with_errors(cx, t.into_token_stream()));
            }
            Ok(with_errors(cx, expand_trait(t, &args)))
        }
        Item::Impl(i) => {
            let args = parse_args(&cx, args, false);
            let mut registrable = true;
            if i.trait_.is_none() {
                registrable = false;
                cx.error_spanned_by(
                    &i.self_ty,
                    "expected `impl Trait for Type`: the attribute registers a type for a polymorphic trait",
                );
            }
            if !i.generics.params.is_empty() {
                registrable = false;
                cx.error_spanned_by(
                    &i.generics,
                    "generic impls cannot be registered: each registered type needs one fixed tag",
                );
            }
            if !registrable {
                // An inherent impl is kept as written. A generic trait impl
                // is dropped: without typetag's methods it could not compile.
                let keep = if i.trait_.is_none() {
                    i.into_token_stream()
                } else {
                    TokenStream::new()
                };
                return Ok(with_errors(cx, keep));
            }
            Ok(with_errors(cx, expand_impl(i, &args)))
        }
        other => {
            cx.error_spanned_by(
                &other,
                "`#[kafka_codec::polymorphic]` goes on a trait or on an `impl Trait for Type` block",
            );
            Ok(with_errors(cx, other.into_token_stream()))
        }
    }
}

fn expand_trait(mut t: ItemTrait, args: &Args) -> TokenStream {
    let tag = args
        .tag
        .clone()
        .unwrap_or_else(|| LitStr::new("type", proc_macro2::Span::call_site()));
    let ident = t.ident.clone();
    add_hidden_methods(&mut t);
    let registry = registry_and_message(&ident, args, &tag);
    let methods = trait_object_methods(&t);
    let schema = crate::schema::trait_impl(&ident, &tag);
    quote! {
        #[allow(unused_imports)]
        use ::kafka_codec::__private::typetag_scope::*;

        #[typetag::serde(tag = #tag)]
        #t

        #registry
        #methods
        #schema
    }
}

/// `Downcast` as a supertrait, and the methods each registered impl
/// overrides: its key, its version and its views.
fn add_hidden_methods(t: &mut ItemTrait) {
    let p = quote!(::kafka_codec::__private);
    t.supertraits
        .push(syn::parse_quote!(::kafka_codec::Downcast));
    t.items.push(syn::parse_quote! {
        #[doc(hidden)]
        fn __kafka_codec_key(&self, buf: &mut #p::Vec<u8>) -> bool {
            let _ = buf;
            false
        }
    });
    t.items.push(syn::parse_quote! {
        #[doc(hidden)]
        fn __kafka_codec_version(&self) -> #p::Option<u32> {
            #p::Option::None
        }
    });
    t.items.push(syn::parse_quote! {
        #[doc(hidden)]
        fn __kafka_codec_encode(
            &self,
            codec: &dyn #p::Any,
            buf: &mut #p::Vec<u8>,
        ) -> #p::Option<::kafka_codec::Result<()>> {
            let _ = (codec, buf);
            #p::Option::None
        }
    });
    t.items.push(syn::parse_quote! {
        #[doc(hidden)]
        fn __kafka_codec_views<'a>(
            &'a self,
            f: &mut dyn FnMut(&'a dyn ::core::any::Any) -> bool,
        ) -> bool {
            let _ = f;
            false
        }
    });
}

/// The registry of the trait's types, `Polymorphic`, and `KafkaMessage`
/// for `Box<dyn Trait>`.
fn registry_and_message(ident: &syn::Ident, args: &Args, tag: &LitStr) -> TokenStream {
    let p = quote!(::kafka_codec::__private);
    let codec = args
        .codec
        .as_ref()
        .map_or_else(|| quote!(::kafka_codec::Json), |c| quote!(#c));
    // The fast path's codecs: those named, then the built-ins, spanned so
    // that a codec which is not a `SerdeCodec` is reported where it is
    // written.
    let fast_codecs = args.codecs.iter().flatten().rev().fold(
        quote!(#p::BuiltinCodecs),
        |rest, codec| quote::quote_spanned!(codec.span()=> (#codec, #rest)),
    );
    let topic = match &args.topic {
        Some(t) => quote!(#p::Option::Some(#t)),
        None => quote!(#p::Option::None),
    };
    let name = ident.to_string();
    let trait_name = format!("dyn {ident}");
    quote! {
        const _: () = {
            #[doc(hidden)]
            pub struct __KcEntry(#p::Entry<dyn #ident>);
            #p::inventory::collect!(__KcEntry);

            impl dyn #ident {
                #[doc(hidden)]
                pub const fn __kafka_codec_entry(entry: #p::Entry<dyn #ident>) -> __KcEntry {
                    __KcEntry(entry)
                }
            }

            #[automatically_derived]
            impl #p::Polymorphic for dyn #ident {
                const TAG_KEY: &'static str = #tag;
                const TRAIT_NAME: &'static str = #trait_name;
                type Codecs = #fast_codecs;
                fn tag_of(value: &Self) -> &'static str {
                    #ident::typetag_name(value)
                }
                #[inline]
                fn encode_fast(
                    value: &Self,
                    codec: &dyn #p::Any,
                    buf: &mut #p::Vec<u8>,
                ) -> #p::Option<::kafka_codec::Result<()>> {
                    #ident::__kafka_codec_encode(value, codec, buf)
                }
                fn views<'a>(
                    value: &'a Self,
                    f: &mut dyn FnMut(&'a dyn #p::Any) -> bool,
                ) -> bool {
                    #ident::__kafka_codec_views(value, f)
                }
                fn registry() -> &'static #p::Registry<Self> {
                    static REGISTRY: #p::OnceLock<#p::Registry<dyn #ident>> = #p::OnceLock::new();
                    #p::Registry::get_or_build(&REGISTRY, || {
                        #p::inventory::iter::<__KcEntry>.into_iter().map(|e| &e.0).collect()
                    })
                }
            }

            #[automatically_derived]
            impl ::kafka_codec::KafkaMessage for #p::Box<dyn #ident> {
                type Codec = #codec;
                const NAME: &'static str = #name;
                const TOPIC: #p::Option<&'static str> = #topic;

                fn type_name(&self) -> &str {
                    #ident::typetag_name(&**self)
                }
                fn version(&self) -> #p::Option<u32> {
                    #ident::__kafka_codec_version(&**self)
                }
                fn write_key(&self, buf: &mut #p::Vec<u8>) -> bool {
                    #ident::__kafka_codec_key(&**self, buf)
                }
                fn encode_with<C: ::kafka_codec::KafkaCodec<Self> + ?Sized>(
                    &self,
                    codec: &C,
                    buf: &mut #p::Vec<u8>,
                ) -> ::kafka_codec::Result<()> {
                    #p::encode::<dyn #ident, C>(codec, self, buf)
                }
                fn decode_with<C: ::kafka_codec::KafkaCodec<Self> + ?Sized>(
                    codec: &C,
                    bytes: &[u8],
                    hints: &::kafka_codec::Hints<'_>,
                ) -> ::kafka_codec::Result<Self> {
                    #p::decode::<dyn #ident, C>(codec, bytes, hints)
                }
                fn check() -> ::kafka_codec::Result<()> {
                    #p::check::<dyn #ident>()
                }
            }
        };
    }
}

/// `view`, `downcast_ref` and friends on `dyn Trait`.
fn trait_object_methods(t: &ItemTrait) -> TokenStream {
    let p = quote!(::kafka_codec::__private);
    let ident = &t.ident;
    let vis = &t.vis;
    quote! {
        impl dyn #ident {
            /// The value seen as a `B`: its concrete type, or any of the
            /// bases it extends with `#[kafka(base)]`, however deep (what
            /// Python's `isinstance` answers). `None` if it is neither.
            #vis fn view<B: 'static>(&self) -> #p::Option<&B> {
                let mut found = #p::Option::None;
                #ident::__kafka_codec_views(self, &mut |v: &dyn ::core::any::Any| {
                    found = v.downcast_ref::<B>();
                    found.is_some()
                });
                found
            }
            /// The concrete value, if it is a `T`.
            #vis fn downcast_ref<T: #ident>(&self) -> #p::Option<&T> {
                ::kafka_codec::Downcast::as_any(self).downcast_ref::<T>()
            }
            /// The concrete value, mutably, if it is a `T`.
            #vis fn downcast_mut<T: #ident>(&mut self) -> #p::Option<&mut T> {
                ::kafka_codec::Downcast::as_any_mut(self).downcast_mut::<T>()
            }
            /// Whether the concrete value is a `T`.
            #vis fn is<T: #ident>(&self) -> bool {
                ::kafka_codec::Downcast::as_any(self).is::<T>()
            }
            /// The concrete value, by value, or the box back if it is not a `T`.
            #vis fn downcast<T: #ident>(self: #p::Box<Self>) -> #p::Result<#p::Box<T>, #p::Box<Self>> {
                if self.is::<T>() {
                    match ::kafka_codec::Downcast::into_any(self).downcast::<T>() {
                        #p::Result::Ok(t) => #p::Result::Ok(t),
                        #p::Result::Err(_) => unreachable!("checked by `is`"),
                    }
                } else {
                    #p::Result::Err(self)
                }
            }
        }
    }
}

fn expand_impl(mut i: ItemImpl, args: &Args) -> TokenStream {
    let p = quote!(::kafka_codec::__private);
    let self_ty = i.self_ty.clone();
    let trait_path = match &i.trait_ {
        Some((_, path, _)) => path.clone(),
        None => unreachable!("checked in expand"),
    };
    // `name` replaces the tag only: the key and the version are the type's
    // own, as without it.
    let name = match &args.name {
        Some(name) => quote!(#name),
        None => quote!(<#self_ty as ::kafka_codec::KafkaMessage>::NAME),
    };
    let key = quote!(<#self_ty as ::kafka_codec::KafkaMessage>::write_key(self, buf));
    let version = quote!(<#self_ty as ::kafka_codec::KafkaMessage>::version(self));
    i.items.push(syn::parse_quote! {
        #[doc(hidden)]
        fn __kafka_codec_key(&self, buf: &mut #p::Vec<u8>) -> bool {
            let _ = &buf;
            #key
        }
    });
    i.items.push(syn::parse_quote! {
        #[doc(hidden)]
        fn __kafka_codec_version(&self) -> #p::Option<u32> {
            #version
        }
    });
    // Monomorphic for the type: the one virtual call of the encode fast path.
    i.items.push(syn::parse_quote! {
        #[doc(hidden)]
        #[inline]
        fn __kafka_codec_encode(
            &self,
            codec: &dyn #p::Any,
            buf: &mut #p::Vec<u8>,
        ) -> #p::Option<::kafka_codec::Result<()>> {
            #p::encode_tagged::<dyn #trait_path, #self_ty>(codec, #name, self, buf)
        }
    });
    i.items.push(syn::parse_quote! {
        #[doc(hidden)]
        fn __kafka_codec_views<'a>(
            &'a self,
            f: &mut dyn FnMut(&'a dyn ::core::any::Any) -> bool,
        ) -> bool {
            #[allow(unused_imports)]
            use #p::{ViewsAny as _, ViewsFlatten as _};
            (&&#p::Views(self)).views(f)
        }
    });
    let schema = crate::schema::impl_entry(&self_ty, &trait_path, &name);
    let aliases = &args.aliases;
    quote! {
        const _: () = {
            #[allow(unused_imports)]
            use #p::typetag;

            #[typetag::serde(name = #name)]
            #i

            #[automatically_derived]
            impl #p::Upcast<dyn #trait_path> for #self_ty {
                #[inline]
                fn upcast(self) -> #p::Box<dyn #trait_path> {
                    #p::Box::new(self)
                }
            }

            #p::inventory::submit! {
                <dyn #trait_path>::__kafka_codec_entry(
                    #p::Entry::new::<#self_ty>(#name).aliases(&[#(#aliases),*])
                )
            }

            #schema
        };
    }
}
