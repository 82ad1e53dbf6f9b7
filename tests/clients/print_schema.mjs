// Prints the schema of an introspection result (stdin: {"data": {...}}) as graphql-js
// does, as codegen's schema-ast plugin, schema registries and diff tools print it;
// then re-parses the text and rebuilds it, failing if that prints anything else.
import { readFileSync } from "node:fs";
import { buildClientSchema, buildSchema, printSchema } from "graphql";

const introspection = JSON.parse(readFileSync(0, "utf8"));
const printed = printSchema(buildClientSchema(introspection.data));
const reprinted = printSchema(buildSchema(printed));
if (reprinted !== printed) {
  console.error("the printed schema does not survive a re-parse");
  process.exit(1);
}
process.stdout.write(printed);
