//! Match results, history and rating changes in MySQL, once per match id.
