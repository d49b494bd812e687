//! One file per message a zone instance handles for the players it holds.

pub mod attack;
pub mod enter_world;
pub mod leave_instance;
pub mod r#move;
