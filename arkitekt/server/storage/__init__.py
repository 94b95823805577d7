"""Images and files by reference: their records, the datalayer that holds their bytes, and the
GraphQL API (``/mikro/graphql``) that hands out short-lived, scoped grants to read or write them."""
