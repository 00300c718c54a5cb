//! Parses `#[kafka(...)]` (and the few `#[serde(...)]` attributes that matter)
//! into a model of the input, keeping the original syn nodes for spans.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitInt, LitStr, Member};

use crate::ctxt::Ctxt;

const CONTAINER_KEYS: &str = "topic, key, name, codec, version, upcast, version_field, forward";
const FIELD_KEYS: &str = "key, base, rename, default";

#[allow(clippy::struct_field_names)]
pub(crate) struct Container<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) topic: Option<LitStr>,
    pub(crate) key: Option<LitStr>,
    pub(crate) name: Option<LitStr>,
    pub(crate) codec: Option<syn::Type>,
    pub(crate) version: Option<LitInt>,
    /// `upcast(from = K, ...)` steps, in the order written.
    pub(crate) upcasts: Vec<Upcast>,
    /// `version_field = "..."`.
    pub(crate) version_field: Option<LitStr>,
    /// `forward = path`.
    pub(crate) forward: Option<syn::Path>,
    /// Container-level serde attributes present (rename_all, ...): the
    /// struct's wire names are not simply its field names.
    pub(crate) serde_container: Option<&'a syn::Attribute>,
    pub(crate) fields: Vec<Field<'a>>,
    pub(crate) style: Style,
}

/// One step of an upcast chain: version `from` becomes `from + 1`.
pub(crate) struct Upcast {
    pub(crate) from: u32,
    pub(crate) from_lit: LitInt,
    pub(crate) step: Step,
    pub(crate) span: Span,
}

pub(crate) enum Step {
    /// `value = path`: a function over the JSON tree.
    Value(syn::Path),
    /// `typed = Type`: the version's own Rust type.
    Typed(syn::Type),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Named,
    Tuple,
    Unit,
    Enum,
}

#[allow(clippy::struct_field_names)]
pub(crate) struct Field<'a> {
    pub(crate) field: &'a syn::Field,
    pub(crate) member: Member,
    pub(crate) key: Option<Span>,
    pub(crate) base: Option<Span>,
    /// The name on the wire.
    pub(crate) wire_name: String,
    /// Other names accepted when decoding (`#[serde(alias = "...")]`).
    pub(crate) aliases: Vec<LitStr>,
    pub(crate) default: bool,
    /// A serde attribute we cannot mirror (flatten, skip, with, ...).
    pub(crate) serde_unsupported: Option<(Span, String)>,
    /// A `#[serde(...)]` we could not read. Only reported for structs with a
    /// base: otherwise serde's own derive reads it and reports it.
    pub(crate) serde_error: Option<syn::Error>,
}

pub(crate) fn set_once<T>(cx: &Ctxt, slot: &mut Option<T>, value: T, what: &str, span: Span) {
    if slot.is_some() {
        cx.syn_error(syn::Error::new(
            span,
            format!("`{what}` is given twice; keep one"),
        ));
    } else {
        *slot = Some(value);
    }
}

impl<'a> Container<'a> {
    pub(crate) fn parse(cx: &Ctxt, input: &'a DeriveInput) -> Self {
        let mut c = Container {
            input,
            topic: None,
            key: None,
            name: None,
            codec: None,
            version: None,
            upcasts: Vec::new(),
            version_field: None,
            forward: None,
            serde_container: None,
            fields: Vec::new(),
            style: Style::Unit,
        };
        for attr in &input.attrs {
            if attr.path().is_ident("serde") {
                c.serde_container = Some(attr);
            } else if attr.path().is_ident("kafka") {
                c.parse_kafka_attr(cx, attr);
            }
        }
        c.parse_data(cx);
        c
    }

    /// One `#[kafka(...)]` on the type.
    fn parse_kafka_attr(&mut self, cx: &Ctxt, attr: &syn::Attribute) {
        let result = attr.parse_nested_meta(|meta| {
            let span = meta.path.span();
            if meta.path.is_ident("topic") {
                let v: LitStr = meta.value()?.parse()?;
                set_once(cx, &mut self.topic, v, "topic", span);
            } else if meta.path.is_ident("key") {
                let v: LitStr = meta.value()?.parse()?;
                set_once(cx, &mut self.key, v, "key", span);
            } else if meta.path.is_ident("name") {
                let v: LitStr = meta.value()?.parse()?;
                set_once(cx, &mut self.name, v, "name", span);
            } else if meta.path.is_ident("codec") {
                let v: syn::Type = meta.value()?.parse()?;
                set_once(cx, &mut self.codec, v, "codec", span);
            } else if meta.path.is_ident("version") {
                match meta.value()?.parse::<syn::Expr>()? {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Int(v),
                        ..
                    }) => set_once(cx, &mut self.version, v, "version", span),
                    other => cx.error_spanned_by(
                        other,
                        "`version` must be a u32 literal, such as `version = 2`",
                    ),
                }
            } else if meta.path.is_ident("upcast") {
                self.parse_upcast(cx, &meta)?;
            } else if meta.path.is_ident("version_field") {
                let v: LitStr = meta.value()?.parse()?;
                set_once(cx, &mut self.version_field, v, "version_field", span);
            } else if meta.path.is_ident("forward") {
                let v: syn::Path = meta.value()?.parse()?;
                set_once(cx, &mut self.forward, v, "forward", span);
            } else {
                let name = meta.path.to_token_stream_string();
                cx.error_spanned_by(
                    &meta.path,
                    format!("unknown attribute `{name}`; expected one of: {CONTAINER_KEYS}"),
                );
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(e) = result {
            cx.syn_error(e);
        }
    }

    /// `upcast(from = K, value = path)` or `upcast(from = K, typed = Type)`.
    fn parse_upcast(
        &mut self,
        cx: &Ctxt,
        meta: &syn::meta::ParseNestedMeta<'_>,
    ) -> syn::Result<()> {
        let span = meta.path.span();
        let mut from: Option<LitInt> = None;
        let mut step: Option<Step> = None;
        meta.parse_nested_meta(|inner| {
            let ispan = inner.path.span();
            if inner.path.is_ident("from") {
                let v: LitInt = inner.value()?.parse()?;
                set_once(cx, &mut from, v, "from", ispan);
            } else if inner.path.is_ident("value") {
                let v: syn::Path = inner.value()?.parse()?;
                set_once(cx, &mut step, Step::Value(v), "the step (`value` or `typed`)", ispan);
            } else if inner.path.is_ident("typed") {
                let v: syn::Type = inner.value()?.parse()?;
                set_once(cx, &mut step, Step::Typed(v), "the step (`value` or `typed`)", ispan);
            } else {
                cx.error_spanned_by(
                    &inner.path,
                    format!(
                        "unknown argument `{}`; expected `from = N` and one of `value = path`, `typed = Type`",
                        inner.path.to_token_stream_string()
                    ),
                );
                skip_value(&inner)?;
            }
            Ok(())
        })?;
        let Some(from_lit) = from else {
            cx.syn_error(syn::Error::new(
                span,
                "an upcast step needs `from = N`: the version it reads",
            ));
            return Ok(());
        };
        let Some(step) = step else {
            cx.syn_error(syn::Error::new(
                span,
                "an upcast step needs `value = path` (a fn over the JSON tree) or `typed = Type` \
                 (the old version's type)",
            ));
            return Ok(());
        };
        match from_lit.base10_parse::<u32>() {
            Ok(from) => self.upcasts.push(Upcast {
                from,
                from_lit,
                step,
                span,
            }),
            Err(e) => cx.syn_error(e),
        }
        Ok(())
    }

    /// The fields (of a struct), and what cannot carry attributes.
    fn parse_data(&mut self, cx: &Ctxt) {
        let input = self.input;
        match &input.data {
            Data::Struct(s) => {
                self.style = match &s.fields {
                    Fields::Named(_) => Style::Named,
                    Fields::Unnamed(_) => Style::Tuple,
                    Fields::Unit => Style::Unit,
                };
                for (i, field) in s.fields.iter().enumerate() {
                    self.fields.push(Field::parse(cx, field, i));
                }
            }
            Data::Enum(e) => {
                self.style = Style::Enum;
                for variant in &e.variants {
                    for field in &variant.fields {
                        for attr in field.attrs.iter().filter(|a| a.path().is_ident("kafka")) {
                            cx.error_spanned_by(
                                attr,
                                "`#[kafka(...)]` on enum variant fields is not supported; \
                             an enum has no single key or base field",
                            );
                        }
                    }
                }
            }
            Data::Union(u) => cx.error_spanned_by(
                u.union_token,
                "`KafkaMessage` cannot be derived for unions; use a struct or an enum",
            ),
        }
    }

    pub(crate) fn base(&self) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.base.is_some())
    }

    pub(crate) fn key_field(&self) -> Option<&Field<'a>> {
        if let Some(name) = &self.key {
            return self.fields.iter().find(|f| match &f.member {
                Member::Named(ident) => *ident == name.value(),
                Member::Unnamed(index) => index.index.to_string() == name.value(),
            });
        }
        self.fields.iter().find(|f| f.key.is_some())
    }
}

impl<'a> Field<'a> {
    fn parse(cx: &Ctxt, field: &'a syn::Field, index: usize) -> Self {
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(syn::Index {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                span: field.span(),
            }),
        };
        let mut f = Field {
            field,
            wire_name: field
                .ident
                .as_ref()
                .map(|i| i.to_string().trim_start_matches("r#").to_owned())
                .unwrap_or_default(),
            member,
            key: None,
            base: None,
            aliases: Vec::new(),
            default: false,
            serde_unsupported: None,
            serde_error: None,
        };
        let mut rename: Option<LitStr> = None;
        for attr in &field.attrs {
            if attr.path().is_ident("serde") {
                let result = attr.parse_nested_meta(|meta| {
                    if meta.path.is_ident("rename") && meta.input.peek(syn::Token![=]) {
                        let v: LitStr = meta.value()?.parse()?;
                        rename = Some(v);
                    } else if meta.path.is_ident("default") && !meta.input.peek(syn::Token![=]) {
                        f.default = true;
                    } else if meta.path.is_ident("alias") && meta.input.peek(syn::Token![=]) {
                        f.aliases.push(meta.value()?.parse()?);
                    } else {
                        f.serde_unsupported =
                            Some((meta.path.span(), meta.path.to_token_stream_string()));
                        skip_value(&meta)?;
                    }
                    Ok(())
                });
                if let Err(e) = result {
                    f.serde_error = Some(e);
                }
                continue;
            }
            if !attr.path().is_ident("kafka") {
                continue;
            }
            let result = attr.parse_nested_meta(|meta| {
                let span = meta.path.span();
                if meta.path.is_ident("key") {
                    set_once(cx, &mut f.key, span, "key", span);
                } else if meta.path.is_ident("base") {
                    set_once(cx, &mut f.base, span, "base", span);
                } else if meta.path.is_ident("rename") {
                    let v: LitStr = meta.value()?.parse()?;
                    set_once(cx, &mut rename, v, "rename", span);
                } else if meta.path.is_ident("default") {
                    f.default = true;
                } else {
                    let name = meta.path.to_token_stream_string();
                    cx.error_spanned_by(
                        &meta.path,
                        format!("unknown field attribute `{name}`; expected one of: {FIELD_KEYS}"),
                    );
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(e) = result {
                cx.syn_error(e);
            }
        }
        if let Some(rename) = rename {
            f.wire_name = rename.value();
        }
        f
    }

    pub(crate) fn ty(&self) -> &syn::Type {
        &self.field.ty
    }
}

/// Skips `= value` or `(...)` after an attribute path we reported.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _ = meta.parse_nested_meta(|inner| skip_value(&inner));
    }
    Ok(())
}

trait PathString {
    fn to_token_stream_string(&self) -> String;
}

impl PathString for syn::Path {
    fn to_token_stream_string(&self) -> String {
        quote::ToTokens::to_token_stream(self)
            .to_string()
            .replace(' ', "")
    }
}

/// Whether the type is spelled `Option<...>` (as serde decides it, too).
pub(crate) fn is_option(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(p) if p.qself.is_none() => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Option" && !s.arguments.is_none()),
        syn::Type::Group(g) => is_option(&g.elem),
        _ => false,
    }
}
