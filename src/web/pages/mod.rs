//! (skeleton: the pages, written by the pages engineer)
