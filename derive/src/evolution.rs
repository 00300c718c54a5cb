//! `version`, `upcast(...)`, `version_field` and `forward`: the checks of
//! the upcast chain, and the `__upcast` function that runs it.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Container, Step, Upcast};
use crate::ctxt::Ctxt;

/// The chain must run from its oldest step up to `version - 1` without a
/// gap, each version once, JSON-tree steps before typed ones.
pub(crate) fn validate(cx: &Ctxt, c: &Container<'_>) {
    let Some(version) = &c.version else {
        let needs = c
            .upcasts
            .first()
            .map(|u| (u.span, "upcast"))
            .or_else(|| {
                c.version_field
                    .as_ref()
                    .map(|f| (f.span(), "version_field"))
            })
            .or_else(|| c.forward.as_ref().map(|f| (f.span(), "forward")));
        if let Some((span, what)) = needs {
            cx.syn_error(syn::Error::new(
                span,
                format!("`{what}` needs the current version: add `#[kafka(version = N)]`"),
            ));
        }
        return;
    };
    let Ok(current) = version.base10_parse::<u32>() else {
        // Reported where the attribute is read.
        return;
    };
    if let Some(field) = &c.version_field {
        if field.value().is_empty() {
            cx.error_spanned_by(field, "`version_field` names a payload field; it is empty");
        }
    }
    let mut steps: Vec<&Upcast> = c.upcasts.iter().collect();
    steps.sort_by_key(|u| u.from);
    for u in &steps {
        if u.from >= current {
            cx.error_spanned_by(
                &u.from_lit,
                format!(
                    "this step reads version {} into {}, but the current version is {current}: \
                     steps go from older versions up to {}",
                    u.from,
                    u64::from(u.from) + 1,
                    current.saturating_sub(1)
                ),
            );
        }
    }
    for pair in steps.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.from == b.from {
            // The sort is stable: `b` is the one written later.
            cx.error_spanned_by(
                &b.from_lit,
                format!(
                    "two steps read version {}; keep one: each version has one way up",
                    a.from
                ),
            );
        } else if b.from > a.from + 1 && b.from < current {
            cx.error_spanned_by(
                &b.from_lit,
                format!(
                    "the chain has a gap: no step reads version {} (after the step from {})",
                    a.from + 1,
                    a.from
                ),
            );
        }
        if matches!(a.step, Step::Typed(_)) && matches!(b.step, Step::Value(_)) {
            cx.error_spanned_by(
                &b.from_lit,
                format!(
                    "a JSON-tree step cannot follow a typed one: version {} is already a Rust \
                     type; write this step as `typed = ...` too, or move the tree step earlier",
                    b.from
                ),
            );
        }
    }
    if let Some(last) = steps.iter().rev().find(|u| u.from < current) {
        if last.from + 1 < current {
            cx.error_spanned_by(
                version,
                format!(
                    "the chain stops short: no step reads version {} into {} (the last step \
                     reads {})",
                    last.from + 1,
                    last.from + 2,
                    last.from
                ),
            );
        }
    }
}

/// `__EVOLUTION` and `__upcast`, for a type whose chain passed
/// [`validate`]; nothing for a type without versions.
pub(crate) fn items(c: &Container<'_>) -> TokenStream {
    let Some(current) = c
        .version
        .as_ref()
        .and_then(|v| v.base10_parse::<u32>().ok())
    else {
        return TokenStream::new();
    };
    if c.upcasts.is_empty() && c.version_field.is_none() && c.forward.is_none() {
        return TokenStream::new();
    }
    let v = quote!(::kafka_codec::__private::version);
    let mut steps: Vec<&Upcast> = c.upcasts.iter().collect();
    steps.sort_by_key(|u| u.from);
    let oldest = match steps.first() {
        Some(u) => {
            let from = u.from;
            quote!(::kafka_codec::__private::Option::Some(#from))
        }
        None => quote!(::kafka_codec::__private::Option::None),
    };
    let field = match &c.version_field {
        Some(f) => quote!(::kafka_codec::__private::Option::Some(#f)),
        None => quote!(::kafka_codec::__private::Option::None),
    };
    let has_forward = c.forward.is_some();

    let forward = c.forward.as_ref().map(|f| {
        let next = current + 1;
        quote_spanned! {f.span()=>
            if __from == #next {
                let __tree = __old.tree::<Self>()?;
                let __tree = #v::tree_step::<Self, _>(#next, #f(__tree))?;
                return #v::from_tree::<Self, Self>(#current, __tree);
            }
        }
    });

    // JSON-tree steps, oldest first.
    let tree_steps: Vec<(u32, &syn::Path)> = steps
        .iter()
        .filter_map(|u| match &u.step {
            Step::Value(p) => Some((u.from, p)),
            Step::Typed(_) => None,
        })
        .collect();
    let typed_steps: Vec<(u32, &syn::Type)> = steps
        .iter()
        .filter_map(|u| match &u.step {
            Step::Typed(t) => Some((u.from, t)),
            Step::Value(_) => None,
        })
        .collect();
    let tree_region = tree_steps.last().map(|&(last, _)| {
        let calls = tree_steps.iter().map(|&(from, f)| {
            quote_spanned! {f.span()=>
                if __from <= #from {
                    __t = #v::tree_step::<Self, _>(#from, #f(__t))?;
                }
            }
        });
        quote! {
            if __from <= #last {
                let mut __t = __old.tree::<Self>()?;
                #(#calls)*
                __tree = ::kafka_codec::__private::Option::Some(__t);
            }
        }
    });
    // The typed region: one variable per version, filled from the tree (at
    // the first typed version), from the record (at its own version), or
    // from the step below.
    let mut typed = Vec::new();
    let mut prev: Option<(u32, syn::Ident, &syn::Type)> = None;
    for &(from, ty) in &typed_steps {
        let var = format_ident!("__x{}", from);
        let fill = match &prev {
            None => quote! {
                match __tree.take() {
                    ::kafka_codec::__private::Option::Some(__t) => {
                        ::kafka_codec::__private::Option::Some(#v::from_tree::<Self, #ty>(#from, __t)?)
                    }
                    ::kafka_codec::__private::Option::None if __from == #from => {
                        ::kafka_codec::__private::Option::Some(__old.typed::<Self, #ty>()?)
                    }
                    ::kafka_codec::__private::Option::None => ::kafka_codec::__private::Option::None,
                }
            },
            Some((pfrom, pvar, pty)) => quote_spanned! {ty.span()=>
                match #pvar {
                    ::kafka_codec::__private::Option::Some(__p) => ::kafka_codec::__private::Option::Some(
                        ::kafka_codec::__private::version::typed_step::<Self, #pty, #ty>(#pfrom, __p)?,
                    ),
                    ::kafka_codec::__private::Option::None if __from == #from => {
                        ::kafka_codec::__private::Option::Some(__old.typed::<Self, #ty>()?)
                    }
                    ::kafka_codec::__private::Option::None => ::kafka_codec::__private::Option::None,
                }
            },
        };
        typed.push(quote! {
            let #var: ::kafka_codec::__private::Option<#ty> = #fill;
        });
        prev = Some((from, var, ty));
    }
    let last = match &prev {
        Some((pfrom, pvar, pty)) => quote_spanned! {pty.span()=>
            match #pvar {
                ::kafka_codec::__private::Option::Some(__p) => {
                    ::kafka_codec::__private::version::typed_step::<Self, #pty, Self>(#pfrom, __p)
                }
                ::kafka_codec::__private::Option::None => ::kafka_codec::__private::Result::Err(#v::no_step::<Self>(__from)),
            }
        },
        None => quote! {
            match __tree {
                ::kafka_codec::__private::Option::Some(__t) => #v::from_tree::<Self, Self>(#current, __t),
                ::kafka_codec::__private::Option::None => ::kafka_codec::__private::Result::Err(#v::no_step::<Self>(__from)),
            }
        },
    };
    let body = if steps.is_empty() {
        quote! {
            #forward
            ::kafka_codec::__private::Result::Err(#v::no_step::<Self>(__from))
        }
    } else {
        quote! {
            #forward
            #[allow(unused_mut)]
            let mut __tree: ::kafka_codec::__private::Option<#v::Value> = ::kafka_codec::__private::Option::None;
            #tree_region
            #(#typed)*
            #last
        }
    };
    quote! {
        const __EVOLUTION: #v::Evolution = #v::Evolution {
            oldest: #oldest,
            field: #field,
            forward: #has_forward,
        };

        #[allow(clippy::needless_question_mark, clippy::redundant_closure_call)]
        fn __upcast<__L: ::kafka_codec::poly::FastCodecs>(
            __old: #v::Old<'_, __L>,
        ) -> ::kafka_codec::Result<Self> {
            let __from = __old.from();
            #body
        }
    }
}
