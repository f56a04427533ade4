//! The extended protocol's Execute. datafusion-postgres decodes a portal's parameters and
//! calls the hooks with them, but the hooks do not see the portal, so they cannot know the
//! result format the client asked for at Bind (text or binary, per column; asyncpg and
//! JDBC ask for binary). [`ExtendedFront`] puts that format in the connection's metadata for
//! the duration of one Execute, where the gate reads it ([`result_format`]); everything
//! else is datafusion-postgres' own handling.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::DfSessionService;
use futures::Sink;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::Response;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use super::unparsable::AuditedParser;
use crate::accounts::Accounts;
use crate::query::QueryService;

/// Metadata key holding the current Execute's result format.
const RESULT_FORMAT_KEY: &str = "medlake.result_format";

/// datafusion-postgres' extended-protocol handling, with the portal's result format passed
/// to the gate.
pub(super) struct ExtendedFront {
    session: Arc<DfSessionService>,
    parser: Arc<AuditedParser>,
}

impl ExtendedFront {
    /// Around `session`, whose first hook is the gate; statements that do not parse are
    /// audited through `queries`.
    pub(super) fn new(
        session: Arc<DfSessionService>,
        queries: Arc<QueryService>,
        accounts: Accounts,
    ) -> ExtendedFront {
        let parser = Arc::new(AuditedParser::new(
            session.query_parser(),
            queries,
            accounts,
        ));
        ExtendedFront { session, parser }
    }
}

/// The result format of the Execute in progress on `client`, if any.
pub(super) fn result_format(client: &(dyn ClientInfo + Send + Sync)) -> Option<Format> {
    decode_format(client.metadata().get(RESULT_FORMAT_KEY)?)
}

fn encode_format(format: &Format) -> String {
    match format {
        Format::UnifiedText => "text".to_string(),
        Format::UnifiedBinary => "binary".to_string(),
        Format::Individual(codes) => {
            let codes: Vec<String> = codes.iter().map(i16::to_string).collect();
            format!("columns:{}", codes.join(","))
        }
    }
}

fn decode_format(text: &str) -> Option<Format> {
    match text {
        "text" => Some(Format::UnifiedText),
        "binary" => Some(Format::UnifiedBinary),
        _ => {
            let codes = text.strip_prefix("columns:")?;
            let codes = if codes.is_empty() {
                Vec::new()
            } else {
                codes
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<Vec<i16>, _>>()
                    .ok()?
            };
            Some(Format::Individual(codes))
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for ExtendedFront {
    type Statement = <DfSessionService as ExtendedQueryHandler>::Statement;
    type QueryParser = AuditedParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.metadata_mut().insert(
            RESULT_FORMAT_KEY.to_string(),
            encode_format(&portal.result_column_format),
        );
        let response = self.session.do_query(client, portal, max_rows).await;
        client.metadata_mut().remove(RESULT_FORMAT_KEY);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_format_survives_the_metadata() {
        for format in [
            Format::UnifiedText,
            Format::UnifiedBinary,
            Format::Individual(vec![0, 1, 1]),
            Format::Individual(vec![]),
        ] {
            let text = encode_format(&format);
            let back = decode_format(&text).expect("decodes");
            assert_eq!(encode_format(&back), text);
        }
        assert!(decode_format("columns:0,x").is_none());
    }
}
