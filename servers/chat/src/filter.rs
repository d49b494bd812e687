//! What may be said: a word list whose words are masked with `*` (from a file, reloaded when
//! it changes), and a hook for an external classifier (none by default).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mmo_core::Shutdown;
use parking_lot::RwLock;

/// Words to mask, matched ignoring case anywhere in the text.
#[derive(Debug, Default, Clone)]
pub struct WordList {
    words: Vec<Vec<char>>,
}

fn lower(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(one), None) => one,
        _ => c,
    }
}

impl WordList {
    /// One word per line; blank lines and lines starting with `#` are skipped.
    pub fn parse(text: &str) -> WordList {
        let words = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|w| w.chars().map(lower).collect())
            .collect();
        WordList { words }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// `text` with every listed word replaced by as many `*` as it has characters.
    pub fn mask(&self, text: &str) -> String {
        if self.words.is_empty() {
            return text.to_string();
        }
        let chars: Vec<char> = text.chars().collect();
        let folded: Vec<char> = chars.iter().map(|c| lower(*c)).collect();
        let mut hide = vec![false; chars.len()];
        for w in &self.words {
            if w.is_empty() || w.len() > folded.len() {
                continue;
            }
            for start in 0..=folded.len() - w.len() {
                if folded[start..start + w.len()] == w[..] {
                    hide[start..start + w.len()].iter_mut().for_each(|h| *h = true);
                }
            }
        }
        chars.iter().zip(hide).map(|(c, h)| if h { '*' } else { *c }).collect()
    }
}

/// The word list in use, replaced when its file changes.
#[derive(Debug, Default)]
pub struct LiveWords {
    list: RwLock<Arc<WordList>>,
}

impl LiveWords {
    pub fn current(&self) -> Arc<WordList> {
        self.list.read().clone()
    }

    /// Reads `path` and uses it from now on (an empty path: no filter).
    pub fn reload(&self, path: &Path) -> std::io::Result<usize> {
        let list = if path.as_os_str().is_empty() {
            WordList::default()
        } else {
            WordList::parse(&std::fs::read_to_string(path)?)
        };
        let n = list.len();
        *self.list.write() = Arc::new(list);
        Ok(n)
    }

    /// Checks `path` every `every` and reloads it when its modification time changed, until
    /// shutdown.
    pub fn watch(self: Arc<Self>, path: PathBuf, every: Duration, shutdown: &Shutdown) {
        if path.as_os_str().is_empty() {
            return;
        }
        let token = shutdown.token();
        tokio::spawn(async move {
            let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            let mut seen: Option<SystemTime> = modified(&path);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = token.cancelled() => return,
                }
                let now = modified(&path);
                if now != seen {
                    seen = now;
                    match self.reload(&path) {
                        Ok(n) => tracing::info!(words = n, path = %path.display(), "chat word list reloaded"),
                        Err(e) => {
                            tracing::warn!(error = %e, path = %path.display(), "chat word list not reloaded")
                        }
                    }
                }
            }
        });
    }
}

/// What a classifier decides about a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it as it is.
    Allow,
    /// Deliver this text instead.
    Replace(String),
    /// Refuse it (`CHAT_REFUSED`).
    Refuse,
}

/// A message about to be sent, for a classifier to judge.
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    pub sender: u64,
    /// The channel key (`w`, `c:lobby`, ...), or empty for a whisper.
    pub channel: &'a str,
    /// For a whisper, the recipient.
    pub recipient: u64,
    /// The text after the word list.
    pub text: &'a str,
}

/// An external classifier (a moderation service, a model): called for every message after the
/// word list, before it is stored and delivered. It should answer quickly; a slow one slows chat.
pub trait Classifier: Send + Sync + 'static {
    fn classify<'a>(&'a self, msg: &'a Candidate<'a>) -> Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_words_are_masked_ignoring_case() {
        let list = WordList::parse("# rude words\nbad\n\nWORSE\n");
        assert_eq!(list.len(), 2);
        assert_eq!(list.mask("Bad, worse, baddest"), "***, *****, ***dest");
        assert_eq!(list.mask("fine"), "fine");
        assert_eq!(WordList::default().mask("bad"), "bad");
    }
}
