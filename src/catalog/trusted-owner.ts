// Whose catalog rows a role may trust with what only it should choose (where its prompts, texts and keys go): its own,
// and those of the catalog's owner and of admin_role's members. Any other role may register a model, or write a
// vectorizer's config, naming a server of its own.

/** SQL: whether what `owner` wrote may be used for `role`: written by it, the catalog's owner or a member of admin_role. */
export function trustedOwner(owner: string, role: string): string {
  return `(${owner} OPERATOR(pg_catalog.=) ${role}
         OR ${owner} OPERATOR(pg_catalog.=) (SELECT pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) '_pg_llm_catalog')
         OR EXISTS (SELECT FROM _pg_llm_catalog.pg_llm_config c JOIN pg_catalog.pg_roles r ON r.rolname OPERATOR(pg_catalog.=) c.value
                     WHERE c.name OPERATOR(pg_catalog.=) 'admin_role' AND pg_catalog.pg_has_role(${owner}, r.oid, 'MEMBER')))`;
}
