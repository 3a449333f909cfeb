//! `errand run` as a user runs it: the real binary, a real Chromium on the fixture site,
//! and the model vendors mocked at the HTTP level (wiremock) speaking their real wire
//! formats, Anthropic Messages and OpenAI Chat Completions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

#[path = "../common/mod.rs"]
mod common;
mod consent;
mod extract;
mod inputs;
mod models;
mod plan;
mod recordings;
mod replay;
mod runs;
