/** A SQL string literal ('it''s'), for DDL and generated SQL that cannot take bind parameters. */
export function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
