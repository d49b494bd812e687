//! The graph of a crate's top-level modules: each path a module's code writes through the root
//! resolved to the top-level module it reaches (directly, or through the root's imports), and the
//! cycles among them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::scan::RootUse;
use crate::tree::{self, SourceFile};

/// How many imports of the root a name is followed through (`use a::X as Y; use Y as Z;`) before
/// giving up on it: imports that name each other cannot hide an edge worth finding.
const MAX_HOPS: usize = 8;

/// Where an edge comes from: a line that names the other module.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Site {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// The top-level modules of one crate and which of them name which.
#[derive(Debug)]
pub struct ModuleGraph {
    modules: BTreeSet<String>,
    /// `from -> to -> ` the first site (by file, then line) where `from` names `to`.
    edges: BTreeMap<String, BTreeMap<String, Site>>,
}

/// A cycle: `modules[0] -> modules[1] -> ... -> modules[0]`, starting at its smallest module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    pub modules: Vec<String>,
    /// `sites[i]` is where `modules[i]` names the module after it.
    pub sites: Vec<Site>,
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Some(first), n) = (self.modules.first(), self.modules.len()) else {
            return Ok(());
        };
        for m in &self.modules {
            write!(f, "{m} -> ")?;
        }
        f.write_str(first)?;
        for (i, (m, site)) in self.modules.iter().zip(&self.sites).enumerate() {
            write!(f, "\n    {m} -> {}: {site}", self.modules[(i + 1) % n])?;
        }
        Ok(())
    }
}

impl ModuleGraph {
    /// Reads the crate whose root file is `root` (`src/lib.rs`, `src/main.rs`, ...).
    pub fn of_crate(root: &Path) -> Result<ModuleGraph, Error> {
        Ok(ModuleGraph::from_files(&tree::load(root)?))
    }

    fn from_files(files: &[SourceFile]) -> ModuleGraph {
        let root = Root::new(files);
        let mut edges: BTreeMap<String, BTreeMap<String, Site>> = BTreeMap::new();
        for file in files {
            for r in &file.scan.refs {
                let (Some(from), Some(to)) = (r.scope.first(), root.module_of(&r.target, 0)) else {
                    continue;
                };
                if from == to {
                    continue;
                }
                let site = Site { file: file.path.clone(), line: r.line };
                let first =
                    edges.entry(from.clone()).or_default().entry(to.to_owned()).or_insert(site.clone());
                if site < *first {
                    *first = site;
                }
            }
        }
        ModuleGraph { modules: root.modules, edges }
    }

    /// The crate's top-level modules, sorted.
    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.modules.iter().map(String::as_str)
    }

    /// Every edge `(from, to, where)`, sorted.
    pub fn edges(&self) -> impl Iterator<Item = (&str, &str, &Site)> {
        self.edges
            .iter()
            .flat_map(|(from, to)| to.iter().map(move |(to, site)| (from.as_str(), to.as_str(), site)))
    }

    /// The cycles that together take every edge between modules of one strongly connected
    /// component; none if the modules form layers. Sorted by component, then length.
    pub fn cycles(&self) -> Vec<Cycle> {
        let mut cycles = Vec::new();
        for component in self.components() {
            let mut covered = HashSet::new();
            let mut found: Vec<Vec<&str>> = Vec::new();
            for (from, to, _) in self.edges() {
                if !component.contains(from) || !component.contains(to) || covered.contains(&(from, to)) {
                    continue;
                }
                // The shortest way back closes the shortest cycle through the edge.
                let mut cycle = vec![from];
                cycle.extend(self.shortest_path(to, from, &component));
                cycle.pop();
                let start = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
                cycle.rotate_left(start);
                for (i, m) in cycle.iter().enumerate() {
                    covered.insert((*m, cycle[(i + 1) % cycle.len()]));
                }
                if !found.contains(&cycle) {
                    found.push(cycle);
                }
            }
            found.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            cycles.extend(found.into_iter().map(|modules| self.cycle(&modules)));
        }
        cycles
    }

    fn cycle(&self, modules: &[&str]) -> Cycle {
        let sites = (0..modules.len())
            .map(|i| self.edges[modules[i]][modules[(i + 1) % modules.len()]].clone())
            .collect();
        Cycle { modules: modules.iter().map(|m| (*m).to_owned()).collect(), sites }
    }

    fn successors<'g>(&'g self, module: &str) -> impl Iterator<Item = &'g str> {
        self.edges.get(module).into_iter().flat_map(|to| to.keys().map(String::as_str))
    }

    /// The modules on the shortest path from `from` to `to` inside `within`, both ends
    /// included (breadth first, successors in order, so the result is always the same one).
    fn shortest_path<'g>(&'g self, from: &'g str, to: &'g str, within: &BTreeSet<&str>) -> Vec<&'g str> {
        let mut previous: HashMap<&str, &str> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        while let Some(m) = queue.pop_front() {
            if m == to {
                break;
            }
            for next in self.successors(m) {
                if within.contains(next) && next != from && !previous.contains_key(next) {
                    previous.insert(next, m);
                    queue.push_back(next);
                }
            }
        }
        let mut path = vec![to];
        while let Some(&before) = path.last().and_then(|m| previous.get(m)) {
            path.push(before);
        }
        path.reverse();
        path
    }

    /// The strongly connected components of more than one module (Tarjan), by smallest member.
    fn components(&self) -> Vec<BTreeSet<&str>> {
        let mut tarjan = Tarjan::default();
        for m in &self.modules {
            if !tarjan.index.contains_key(m.as_str()) {
                tarjan.visit(self, m);
            }
        }
        let mut components: Vec<_> = tarjan.components.into_iter().filter(|c| c.len() > 1).collect();
        components.sort();
        components
    }
}

#[derive(Default)]
struct Tarjan<'g> {
    index: HashMap<&'g str, usize>,
    low: HashMap<&'g str, usize>,
    stack: Vec<&'g str>,
    on_stack: HashSet<&'g str>,
    components: Vec<BTreeSet<&'g str>>,
}

impl<'g> Tarjan<'g> {
    fn visit(&mut self, graph: &'g ModuleGraph, m: &'g str) {
        let i = self.index.len();
        self.index.insert(m, i);
        self.low.insert(m, i);
        self.stack.push(m);
        self.on_stack.insert(m);
        for next in graph.successors(m) {
            if !self.index.contains_key(next) {
                self.visit(graph, next);
                let low = self.low[m].min(self.low[next]);
                self.low.insert(m, low);
            } else if self.on_stack.contains(next) {
                let low = self.low[m].min(self.index[next]);
                self.low.insert(m, low);
            }
        }
        if self.low[m] == self.index[m] {
            let mut component = BTreeSet::new();
            while let Some(top) = self.stack.pop() {
                self.on_stack.remove(top);
                component.insert(top);
                if top == m {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

/// What the crate root declares and imports, to resolve `crate::Name`.
struct Root<'f> {
    modules: BTreeSet<String>,
    /// `use b::Thing;` by the name it imports.
    uses: HashMap<&'f str, &'f RootUse>,
    /// `use b::*;`
    globs: Vec<&'f RootUse>,
    /// The names each module declares or imports.
    names: HashMap<&'f [String], HashSet<&'f str>>,
}

impl<'f> Root<'f> {
    fn new(files: &'f [SourceFile]) -> Root<'f> {
        let mut root =
            Root { modules: BTreeSet::new(), uses: HashMap::new(), globs: Vec::new(), names: HashMap::new() };
        for scan in files.iter().map(|f| &f.scan) {
            root.modules.extend(scan.declared.iter().filter(|m| m.len() == 1).map(|m| m[0].clone()));
            for u in &scan.root_uses {
                match &u.name {
                    Some(name) => {
                        root.uses.insert(name.as_str(), u);
                    }
                    None => root.globs.push(u),
                }
            }
            for (module, name) in &scan.names {
                root.names.entry(module.as_slice()).or_default().insert(name.as_str());
            }
        }
        root
    }

    /// The top-level module that `target` (a path from the root) reaches, if any.
    fn module_of(&self, target: &[String], hops: usize) -> Option<&str> {
        let first = target.first()?;
        if let Some(m) = self.modules.get(first) {
            return Some(m.as_str());
        }
        if hops == MAX_HOPS {
            return None;
        }
        let through = |u: &RootUse| self.module_of(&[u.target.as_slice(), &target[1..]].concat(), hops + 1);
        if let Some(u) = self.uses.get(first.as_str()) {
            return through(u);
        }
        // An item of the root's own shadows any glob import.
        let root: &[String] = &[];
        if self.names.get(root).is_some_and(|names| names.contains(first.as_str())) {
            return None;
        }
        self.globs
            .iter()
            .filter(|g| {
                self.names.get(g.target.as_slice()).is_some_and(|names| names.contains(first.as_str()))
            })
            .find_map(|g| through(g))
    }
}
