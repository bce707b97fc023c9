//! `#[rask::task]`: registers a plain function under a stable name so that
//! worker processes (which run the same binary) can call it, and gives it a
//! typed lazy form.
//!
//! For `fn add(x: u64, y: u64) -> u64` at module level it keeps the function
//! as written and adds, beside it, a module of the same name (functions and
//! modules live in different namespaces) holding:
//! - `add::REGISTERED`: the name (`crate::path::add`), a shim that decodes the
//!   arguments, calls `add` and encodes the result, and the codecs of the
//!   parameter and result types; an `inventory` entry points at it;
//! - `add::delayed(x, y)`: a lazy call; each argument is a value or a
//!   `Delayed` of the parameter's type;
//! - `add::submit(&client, x, y)`: the same call started at once, as a
//!   `Future`.
//!
//! A function returning `Result<T, E>` (any type whose last path segment is
//! `Result`) is fallible: an `Err` is a task failure and `T` is the value.
//!
//! An `async fn` (whose future is `Send`) runs on a worker's async runtime,
//! beside the compute threads; in-process executors wait for it on Rask's
//! own runtime (`crate = rask_core` has none: use `rask` or `rask_client`).
//!
//! Each parameter and result type's codec is also registered by type, so a
//! value of that type made in the client (`value(..)`, a future's result)
//! can be sent to workers.
//!
//! Refused, with an error at the offending tokens: generic, `const`,
//! `unsafe` or variadic functions, methods, and parameters that are not plain
//! identifiers with owned types (references cannot cross processes).

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{
    parse_macro_input, FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Type,
};

/// Registers a function for worker processes; see the crate docs.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    let krate = match parse_crate_path(attr.into()) {
        Ok(k) => k,
        Err(e) => return e.to_compile_error().into(),
    };
    let func = parse_macro_input!(item as ItemFn);
    match expand(&func, &krate) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The path under which the generated code finds Rask: `::rask` unless the
/// attribute says `crate = some::path` (for crates that Rask's facade
/// re-exports, which cannot name `::rask` themselves). That path must offer
/// `__private` as `rask::__private` does.
fn parse_crate_path(attr: proc_macro2::TokenStream) -> syn::Result<syn::Path> {
    if attr.is_empty() {
        return Ok(syn::parse_quote!(::rask));
    }
    let nv: syn::MetaNameValue = syn::parse2(attr)?;
    if !nv.path.is_ident("crate") {
        return Err(refuse(&nv.path, "the only argument is `crate = path`"));
    }
    match nv.value {
        syn::Expr::Path(p) => Ok(p.path),
        other => Err(refuse(
            other,
            "`crate = ` takes a path, e.g. `crate = rask_client`",
        )),
    }
}

fn refuse<T: quote::ToTokens>(at: T, why: &str) -> syn::Error {
    syn::Error::new_spanned(at, format!("#[rask::task]: {why}"))
}

fn expand(func: &ItemFn, krate: &syn::Path) -> syn::Result<proc_macro2::TokenStream> {
    let sig = &func.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(refuse(
            &sig.generics,
            "generic functions cannot be registered (give each instance its own function)",
        ));
    }
    let is_async = sig.asyncness.is_some();
    if let Some(c) = &sig.constness {
        return Err(refuse(c, "const functions cannot be registered"));
    }
    if let Some(u) = &sig.unsafety {
        return Err(refuse(u, "unsafe functions cannot be registered"));
    }
    if let Some(v) = &sig.variadic {
        return Err(refuse(v, "variadic functions cannot be registered"));
    }
    let mut params = Vec::new();
    let mut types = Vec::new();
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) => return Err(refuse(r, "methods cannot be registered")),
            FnArg::Typed(pt) => {
                match &*pt.pat {
                    Pat::Ident(id) if id.by_ref.is_none() && id.subpat.is_none() => {
                        params.push(format_ident!(
                            "{}",
                            id.ident.to_string().trim_start_matches("r#")
                        ));
                    }
                    other => return Err(refuse(other, "parameters must be plain names")),
                }
                if has_reference(&pt.ty) {
                    return Err(refuse(
                        &pt.ty,
                        "parameters must be owned values (a reference cannot cross processes)",
                    ));
                }
                types.push((*pt.ty).clone());
            }
        }
    }
    let (output, fallible) = match &sig.output {
        ReturnType::Default => (syn::parse_quote!(()), false),
        ReturnType::Type(_, ty) => match result_ok_type(ty) {
            Some(t) => (t, true),
            None => ((**ty).clone(), false),
        },
    };
    if has_reference(&output) {
        return Err(refuse(&sig.output, "the result must be an owned value"));
    }

    let name = &sig.ident;
    let vis = &func.vis;
    let p0 = quote!(#krate::__private);
    // A `Vec<U>` result can be split into parts (multi-output tasks).
    let out_codec = match vec_item(&output) {
        Some(item) => quote!(#p0::vec_codec::<#item>()),
        None => quote!(#p0::codec::<#output>()),
    };
    let arg_codecs: Vec<_> = (0..types.len())
        .map(|i| format_ident!("__RASK_ARG{}", i))
        .collect();
    let n = types.len();
    let idx: Vec<usize> = (0..n).collect();
    let p = quote!(#krate::__private);
    let call_result = if fallible {
        quote! {
            let r = r.map_err(#p::TaskFailure::from_error)?;
        }
    } else {
        quote! {}
    };
    let make = if fallible {
        quote!(registered_try_call)
    } else {
        quote!(registered_call)
    };
    // The shims: a plain one, and for an `async fn` the one making its future.
    let (shims, call_async, in_process) = if is_async {
        let vars: Vec<_> = (0..n).map(|i| format_ident!("__a{}", i)).collect();
        (
            quote! {
                fn __rask_call(
                    _args: &[&[u8]],
                ) -> ::core::result::Result<#p::Value, #p::TaskFailure> {
                    ::core::result::Result::Err(#p::TaskFailure::msg(
                        "an async function runs through its future",
                    ))
                }

                fn __rask_call_async(
                    args: &[&[u8]],
                ) -> ::core::result::Result<#p::TaskFuture, #p::TaskFailure> {
                    if args.len() != #n {
                        return ::core::result::Result::Err(#p::TaskFailure::msg(::std::format!(
                            "{} takes {} arguments, {} were sent", ::core::module_path!(), #n, args.len()
                        )));
                    }
                    #( let #vars = #p::decode_arg::<#types>(args, #idx)?; )*
                    ::core::result::Result::Ok(::std::boxed::Box::pin(async move {
                        let r = super::#name(#( #vars ),*).await;
                        #call_result
                        ::core::result::Result::Ok(#p::output_value(r))
                    }))
                }
            },
            quote!(::core::option::Option::Some(__rask_call_async)),
            quote!(|#( #vars: #types ),*| #p::block_on(super::#name(#( #vars ),*))),
        )
    } else {
        (
            quote! {
                fn __rask_call(
                    args: &[&[u8]],
                ) -> ::core::result::Result<#p::Value, #p::TaskFailure> {
                    if args.len() != #n {
                        return ::core::result::Result::Err(#p::TaskFailure::msg(::std::format!(
                            "{} takes {} arguments, {} were sent", ::core::module_path!(), #n, args.len()
                        )));
                    }
                    let r = super::#name(#( #p::decode_arg::<#types>(args, #idx)? ),*);
                    #call_result
                    ::core::result::Result::Ok(#p::output_value(r))
                }
            },
            quote!(::core::option::Option::None),
            quote!(super::#name),
        )
    };
    let doc = format!("The registration and lazy form of [`{name}`](fn@{name}) (`#[rask::task]`).");
    Ok(quote! {
        #func

        #[doc = #doc]
        #[allow(non_snake_case, non_upper_case_globals, unused_imports, dead_code, unreachable_pub)]
        #vis mod #name {
            use super::*;

            static __RASK_OUT: #p::Codec = #out_codec;
            #( static #arg_codecs: #p::Codec = #p::codec::<#types>(); )*
            static __RASK_ARGS: [&#p::Codec; #n] = [#( &#arg_codecs ),*];

            #p::inventory::submit! {
                #p::TypeCodec { type_id: ::core::any::TypeId::of::<#output>, codec: &__RASK_OUT }
            }
            #( #p::inventory::submit! {
                #p::TypeCodec { type_id: ::core::any::TypeId::of::<#types>, codec: &#arg_codecs }
            } )*

            /// The registration: name, shim and codecs.
            pub static REGISTERED: #p::Registered = #p::Registered {
                name: ::core::module_path!(),
                call: __rask_call,
                args: &__RASK_ARGS,
                output: &__RASK_OUT,
                call_async: #call_async,
            };

            #shims

            /// A lazy call: each argument is a value or a `Delayed` of the parameter's type.
            pub fn delayed(#( #params: impl #p::IntoInput<#types> ),*) -> #p::Delayed<#output> {
                #p::#make(&REGISTERED, #in_process, (#( #params.into_input(&#arg_codecs), )*))
            }

            /// An eager call: starts now on `client`'s executor (a worker
            /// process on `Client::processes`) and returns its future.
            pub fn submit<C: #p::Submit>(
                client: &C,
                #( #params: impl #p::IntoInput<#types> ),*
            ) -> C::Handle<#output> {
                client.submit_delayed(delayed(#( #params ),*))
            }
        }

        #p::inventory::submit! { #p::Registration(&#name::REGISTERED) }
    })
}

/// `U` if `ty` is `...::Vec<U>`.
fn vec_item(ty: &Type) -> Option<Type> {
    let Type::Path(tp) = ty else { return None };
    let last = tp.path.segments.last()?;
    if last.ident != "Vec" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>()[..] {
        [GenericArgument::Type(t)] => Some(t.clone()),
        _ => None,
    }
}

/// `T` if `ty` is `...::Result<T, ..>`.
fn result_ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(tp) = ty else { return None };
    let last = tp.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}

fn has_reference(ty: &Type) -> bool {
    match ty {
        Type::Reference(_)
        | Type::Ptr(_)
        | Type::BareFn(_)
        | Type::ImplTrait(_)
        | Type::TraitObject(_) => true,
        Type::Paren(p) => has_reference(&p.elem),
        Type::Group(g) => has_reference(&g.elem),
        Type::Array(a) => has_reference(&a.elem),
        Type::Slice(_) => true,
        Type::Tuple(t) => t.elems.iter().any(has_reference),
        Type::Path(tp) => tp.path.segments.iter().any(|s| match &s.arguments {
            PathArguments::AngleBracketed(a) => a.args.iter().any(|g| match g {
                GenericArgument::Type(t) => has_reference(t),
                GenericArgument::Lifetime(_) => true,
                _ => false,
            }),
            _ => false,
        }),
        _ => false,
    }
}
