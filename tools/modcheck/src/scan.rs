//! The scan of one parsed source file: the modules it declares, the paths by which its code
//! names something through the crate root (made absolute), what the root imports, and the names
//! each module declares (for the root's glob re-exports).
//!
//! Module paths are lists of names from the crate root: `[]` is the root, `["a", "x"]` is
//! `crate::a::x`.

use std::path::{Path, PathBuf};

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt as _;
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Attribute, Ident, ImplItem, Item, ItemMod, ItemUse, Macro, Meta, Token, TraitItem, UseTree};

/// A module's place in the crate: its names from the root.
pub(crate) type ModPath = Vec<String>;

/// A `mod name;` declaration, whose file is still to be read.
#[derive(Debug)]
pub(crate) struct ModDecl {
    pub module: ModPath,
    /// The files that may hold it, in the order rustc tries them.
    pub candidates: Vec<PathBuf>,
    /// Found through `#[path]`: such a file's submodules live next to it, as a `mod.rs`'s do.
    pub by_path_attr: bool,
    /// Declared under a `cfg`: its file may be missing in this checkout.
    pub conditional: bool,
    pub line: usize,
}

/// A path in code that names something through the crate root.
#[derive(Debug)]
pub(crate) struct Ref {
    /// The module whose code it is.
    pub scope: ModPath,
    /// What it names, from the root (`crate::b::X` is `["b", "X"]`).
    pub target: ModPath,
    pub line: usize,
}

/// A `use` in the crate root: `use b::Thing;` imports `Thing`, `use b::*;` is a glob (no name).
#[derive(Debug)]
pub(crate) struct RootUse {
    pub name: Option<String>,
    /// What it imports, from the root; the first segment may be another crate's name.
    pub target: ModPath,
}

/// What one file says.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Every module declared in the file, inline or not.
    pub declared: Vec<ModPath>,
    /// The declarations whose module is in a file of its own.
    pub mods: Vec<ModDecl>,
    pub refs: Vec<Ref>,
    pub root_uses: Vec<RootUse>,
    /// The names each module declares or imports: `(module, name)`.
    pub names: Vec<(ModPath, String)>,
}

/// Scans `file`, whose top level is `module`. Submodules declared at its top level live in
/// `dir`; a `#[path]` there is relative to `file_dir`, the file's own directory.
pub(crate) fn scan(file: &syn::File, module: ModPath, dir: PathBuf, file_dir: &Path) -> Scan {
    let mut scanner = Scanner { scan: Scan::default(), module, dir, file_dir, inline: 0 };
    for item in &file.items {
        scanner.visit_item(item);
    }
    scanner.scan
}

struct Scanner<'f> {
    scan: Scan,
    /// The module being scanned (an inline `mod` pushes its name).
    module: ModPath,
    /// Where the files of the current module's submodules are.
    dir: PathBuf,
    file_dir: &'f Path,
    /// Depth of inline `mod` blocks around the current item.
    inline: usize,
}

impl Scanner<'_> {
    /// A path that names something, written in the current module. Only paths through the root
    /// (`crate::`, `super::`, `self::`) can reach another top-level module, and the root's own
    /// code is no node.
    fn reference(&mut self, segments: &[String], span: Span) {
        if self.module.is_empty() {
            return;
        }
        if let Some(target) = absolute(&self.module, segments) {
            self.scan.refs.push(Ref { scope: self.module.clone(), target, line: span.start().line });
        }
    }

    fn declare(&mut self, name: &Ident) {
        self.scan.names.push((self.module.clone(), unraw(name)));
    }

    fn module_decl(&mut self, m: &ItemMod) {
        let name = unraw(&m.ident);
        let mut module = self.module.clone();
        module.push(name.clone());
        self.scan.declared.push(module.clone());
        let path_attr = m.attrs.iter().find_map(|a| match &a.meta {
            Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
                syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        });
        let candidates = match &path_attr {
            // Outside inline modules `#[path]` is relative to the declaring file's directory.
            Some(p) if self.inline == 0 => vec![self.file_dir.join(p)],
            Some(p) => vec![self.dir.join(p)],
            None => vec![self.dir.join(format!("{name}.rs")), self.dir.join(&name).join("mod.rs")],
        };
        self.scan.mods.push(ModDecl {
            module,
            candidates,
            by_path_attr: path_attr.is_some(),
            conditional: m.attrs.iter().any(|a| a.path().is_ident("cfg")),
            line: m.ident.span().start().line,
        });
    }

    fn inline_module(&mut self, m: &ItemMod, items: &[Item]) {
        let name = unraw(&m.ident);
        let mut module = self.module.clone();
        module.push(name.clone());
        self.scan.declared.push(module.clone());
        let outer = std::mem::replace(&mut self.module, module);
        self.dir.push(name);
        self.inline += 1;
        for item in items {
            self.visit_item(item);
        }
        self.inline -= 1;
        self.dir.pop();
        self.module = outer;
    }

    fn use_item(&mut self, u: &ItemUse) {
        if u.leading_colon.is_some() {
            // `use ::name`: another crate.
            return;
        }
        let mut leaves = Vec::new();
        use_leaves(&u.tree, &mut Vec::new(), &mut leaves);
        for leaf in leaves {
            if let Some(name) = &leaf.name
                && name != "_"
            {
                self.scan.names.push((self.module.clone(), name.clone()));
            }
            if !self.module.is_empty() {
                self.reference(&leaf.path, leaf.span);
                continue;
            }
            // In the root, `crate::b`, `self::b` and `b` all start from the root.
            let target = match leaf.path.first().map(String::as_str) {
                Some("crate" | "self") => leaf.path[1..].to_vec(),
                Some("super") | None => continue,
                Some(_) => leaf.path,
            };
            self.scan.root_uses.push(RootUse { name: leaf.name, target });
        }
    }

    /// Paths inside a macro's tokens, which syn leaves unparsed: every run of `ident :: ident ...`
    /// that starts with `crate` (or `$crate`), `super` or `self`.
    fn macro_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(g) => self.macro_tokens(g.stream()),
                TokenTree::Ident(id) if matches!(id.to_string().as_str(), "crate" | "super" | "self") => {
                    let mut segments = vec![unraw(id)];
                    let mut j = i + 1;
                    while let (
                        Some(TokenTree::Punct(a)),
                        Some(TokenTree::Punct(b)),
                        Some(TokenTree::Ident(next)),
                    ) = (tokens.get(j), tokens.get(j + 1), tokens.get(j + 2))
                        && a.as_char() == ':'
                        && b.as_char() == ':'
                    {
                        segments.push(unraw(next));
                        j += 3;
                    }
                    if segments.len() > 1 {
                        self.reference(&segments, id.span());
                    }
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl<'ast> Visit<'ast> for Scanner<'_> {
    fn visit_item(&mut self, item: &'ast Item) {
        let Some(attrs) = item_attrs(item) else {
            visit::visit_item(self, item);
            return;
        };
        if test_only(attrs) {
            return;
        }
        match item {
            Item::Mod(m) => {
                self.declare(&m.ident);
                match &m.content {
                    Some((_, items)) => self.inline_module(m, items),
                    None => self.module_decl(m),
                }
            }
            Item::Use(u) => self.use_item(u),
            _ => {
                if let Some(name) = item_name(item) {
                    self.declare(name);
                }
                visit::visit_item(self, item);
            }
        }
    }

    fn visit_impl_item(&mut self, item: &'ast ImplItem) {
        let attrs = match item {
            ImplItem::Const(c) => &c.attrs,
            ImplItem::Fn(f) => &f.attrs,
            ImplItem::Type(t) => &t.attrs,
            ImplItem::Macro(m) => &m.attrs,
            _ => return visit::visit_impl_item(self, item),
        };
        if !test_only(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_trait_item(&mut self, item: &'ast TraitItem) {
        let attrs = match item {
            TraitItem::Const(c) => &c.attrs,
            TraitItem::Fn(f) => &f.attrs,
            TraitItem::Type(t) => &t.attrs,
            TraitItem::Macro(m) => &m.attrs,
            _ => return visit::visit_trait_item(self, item),
        };
        if !test_only(attrs) {
            visit::visit_trait_item(self, item);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            let segments: Vec<String> = path.segments.iter().map(|s| unraw(&s.ident)).collect();
            if let Some(first) = path.segments.first() {
                self.reference(&segments, first.ident.span());
            }
        }
        // Generic arguments hold paths of their own.
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        self.visit_path(&mac.path);
        self.macro_tokens(mac.tokens.clone());
    }

    /// `pub(in crate::a)` says who may see an item; it names nothing the item uses.
    fn visit_vis_restricted(&mut self, _: &'ast syn::VisRestricted) {}
}

/// `segments`, written in `module`, from the root; `None` unless it starts with `crate`,
/// `self` or `super` (a bare path names something local or another crate).
fn absolute(module: &[String], segments: &[String]) -> Option<ModPath> {
    let (first, rest) = segments.split_first()?;
    match first.as_str() {
        "crate" => Some(rest.to_vec()),
        "self" => Some([module, rest].concat()),
        "super" => {
            let supers = segments.iter().take_while(|s| *s == "super").count();
            let base = module.get(..module.len().checked_sub(supers)?)?;
            Some([base, &segments[supers..]].concat())
        }
        _ => None,
    }
}

/// One name a `use` tree imports.
struct UseLeaf {
    /// The name it is known by here (`None` for a glob).
    name: Option<String>,
    path: Vec<String>,
    span: Span,
}

fn use_leaves(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<UseLeaf>) {
    match tree {
        UseTree::Path(p) => {
            prefix.push(unraw(&p.ident));
            use_leaves(&p.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(n) => out.push(leaf(prefix, &n.ident, &n.ident)),
        UseTree::Rename(r) => out.push(leaf(prefix, &r.ident, &r.rename)),
        UseTree::Glob(g) => out.push(UseLeaf { name: None, path: prefix.clone(), span: g.star_token.span }),
        UseTree::Group(g) => {
            for tree in &g.items {
                use_leaves(tree, prefix, out);
            }
        }
    }
}

/// `prefix::ident as name`; `prefix::{self}` imports the prefix itself.
fn leaf(prefix: &[String], ident: &Ident, name: &Ident) -> UseLeaf {
    let path = if ident == "self" { prefix.to_vec() } else { [prefix, &[unraw(ident)]].concat() };
    let name = if name == "self" { prefix.last().cloned() } else { Some(unraw(name)) };
    UseLeaf { name, path, span: ident.span() }
}

/// An identifier as a name: `r#move` is `move`, as in its module's file name.
fn unraw(ident: &Ident) -> String {
    ident.unraw().to_string()
}

/// Whether the item is compiled only for tests: `#[test]`, or a `cfg` that requires `test`.
fn test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("test")
            || (a.path().is_ident("cfg") && a.parse_args::<Meta>().is_ok_and(|m| requires_test(&m)))
    })
}

/// Whether a `cfg` predicate holds only when `test` does.
fn requires_test(predicate: &Meta) -> bool {
    let Meta::List(list) = predicate else {
        return predicate.path().is_ident("test");
    };
    let Ok(args) = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) else {
        return false;
    };
    if list.path.is_ident("all") {
        args.iter().any(requires_test)
    } else if list.path.is_ident("any") {
        !args.is_empty() && args.iter().all(requires_test)
    } else {
        false
    }
}

fn item_attrs(item: &Item) -> Option<&[Attribute]> {
    Some(match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => return None,
    })
}

/// The name an item declares in its module, for those a path can reach.
fn item_name(item: &Item) -> Option<&Ident> {
    match item {
        Item::Const(i) => Some(&i.ident),
        Item::Enum(i) => Some(&i.ident),
        Item::Fn(i) => Some(&i.sig.ident),
        Item::Static(i) => Some(&i.ident),
        Item::Struct(i) => Some(&i.ident),
        Item::Trait(i) => Some(&i.ident),
        Item::TraitAlias(i) => Some(&i.ident),
        Item::Type(i) => Some(&i.ident),
        Item::Union(i) => Some(&i.ident),
        _ => None,
    }
}
