import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

/**
 * Static call graph from a Lambda handler module to the AWS SDK commands it
 * can send (issue 17 #6). Built with the TypeScript checker, not by grepping
 * files: a function that reaches the cluster store only through `get` and
 * `touch` is not charged with the store's writes.
 *
 * Reachability starts at the handler module's top level. Every identifier in a
 * reached body is resolved: functions, methods, accessors and the initializers
 * of variables and class fields it names become reached; a method named
 * through an interface (`store.touch` on `ClusterStore`) reaches every project
 * class that implements that interface (directly or through interface
 * inheritance), since the concrete class is chosen at run time. `new X(…)`
 * reaches X's constructor and field initializers. Callbacks are reached
 * because they are lexically inside a reached body. Type positions are skipped.
 *
 * Over-approximation is on the side of "reachable": the caller then compares
 * with the IAM statements both ways, so a false positive shows up as an IAM
 * action to justify, never as a missing permission in production.
 */

export interface SdkCommand {
  /** The npm package the command class comes from, e.g. `@aws-sdk/lib-dynamodb`. */
  pkg: string;
  /** The command class name, e.g. `TransactWriteCommand`. */
  command: string;
  /** Repository-relative file that constructs it. */
  file: string;
  /** For transactions: the item kinds (`Put`, `Update`, `Delete`, `ConditionCheck`) that file builds. */
  transactItems?: string[];
  /** One call path from the handler module to the construction (for failure messages). */
  path: string[];
}

export interface CallGraphOptions {
  repoRoot: string;
  /** Repository-relative files never entered (with the reason in the caller). */
  excludeFiles?: readonly string[];
}

type FunctionLike = ts.Node;

function compilerOptions(repoRoot: string): ts.CompilerOptions {
  const configPath = join(repoRoot, 'tsconfig.json');
  const raw = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(raw.config, ts.sys, dirname(configPath));
  return { ...parsed.options, noEmit: true };
}

const SDK_PACKAGE = /node_modules\/(@aws-sdk\/[^/]+)\//;
const TRANSACT_KINDS = new Set(['Put', 'Update', 'Delete', 'ConditionCheck']);

export class SdkCallGraph {
  private readonly program: ts.Program;
  private readonly checker: ts.TypeChecker;
  /** `Interface.member` → implementing class members. */
  private readonly implementations = new Map<string, ts.Node[]>();
  private readonly excluded: Set<string>;

  constructor(
    entryFiles: readonly string[],
    private readonly options: CallGraphOptions,
  ) {
    this.program = ts.createProgram(
      entryFiles.map((f) => join(options.repoRoot, f)),
      compilerOptions(options.repoRoot),
    );
    this.checker = this.program.getTypeChecker();
    this.excluded = new Set((options.excludeFiles ?? []).map((f) => join(options.repoRoot, f)));
    this.indexImplementations();
  }

  private isProjectFile(sf: ts.SourceFile): boolean {
    return !sf.isDeclarationFile && !sf.fileName.includes('/node_modules/') && !this.excluded.has(sf.fileName);
  }

  private rel(fileName: string): string {
    return relative(this.options.repoRoot, fileName);
  }

  /** Every interface a class implements, transitively through interface inheritance. */
  private interfacesOf(cls: ts.ClassLikeDeclaration): string[] {
    const names = new Set<string>();
    const addType = (type: ts.Type) => {
      const name = type.getSymbol()?.getName();
      if (!name || names.has(name)) return;
      names.add(name);
      if (type.isClassOrInterface()) for (const base of this.checker.getBaseTypes(type)) addType(base);
    };
    for (const clause of cls.heritageClauses ?? []) {
      for (const t of clause.types) addType(this.checker.getTypeAtLocation(t.expression));
    }
    return [...names];
  }

  private indexImplementations(): void {
    const visit = (node: ts.Node) => {
      if (ts.isClassDeclaration(node) || ts.isClassExpression(node)) {
        const ifaces = this.interfacesOf(node);
        for (const member of node.members) {
          const name = member.name && (ts.isIdentifier(member.name) || ts.isStringLiteral(member.name)) ? member.name.text : undefined;
          if (!name) continue;
          for (const iface of ifaces) {
            const key = `${iface}.${name}`;
            this.implementations.set(key, [...(this.implementations.get(key) ?? []), member]);
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    for (const sf of this.program.getSourceFiles()) if (this.isProjectFile(sf)) visit(sf);
  }

  /** The SDK commands reachable from one handler module (repository-relative path). */
  commandsFrom(entryFile: string): SdkCommand[] {
    const entry = this.program.getSourceFile(join(this.options.repoRoot, entryFile));
    if (!entry) throw new Error(`${entryFile} is not in the program`);
    const seen = new Set<ts.Node>();
    const queue: FunctionLike[] = [entry];
    const commands = new Map<string, SdkCommand>();
    const parent = new Map<ts.Node, ts.Node>();
    let current: ts.Node = entry;
    const enqueue = (node: ts.Node | undefined) => {
      if (!node || seen.has(node)) return;
      if (!this.isProjectFile(node.getSourceFile())) return;
      seen.add(node);
      parent.set(node, current);
      queue.push(node);
    };
    // Functions stored in an object literal under a member of a project interface
    // (`getRecord: (id) => …` for WriterContext.getRecord) are reached when that
    // member is named, not when the literal is built.
    const deferred = new Map<ts.Node, ts.Node[]>();
    const calledMembers = new Set<ts.Node>();
    const deferTarget = (prop: ts.ObjectLiteralElementLike): ts.Node | undefined => {
      const literal = prop.parent;
      if (!ts.isObjectLiteralExpression(literal) || !prop.name || !(ts.isIdentifier(prop.name) || ts.isStringLiteral(prop.name))) return undefined;
      const contextual = this.checker.getContextualType(literal);
      const member = contextual?.getProperty(prop.name.text);
      const decls = member?.declarations ?? [];
      if (decls.length !== 1) return undefined;
      const decl = decls[0] as ts.Node;
      const isSignature = (ts.isPropertySignature(decl) || ts.isMethodSignature(decl)) && (ts.isInterfaceDeclaration(decl.parent) || ts.isTypeLiteralNode(decl.parent));
      return isSignature && this.isProjectFile(decl.getSourceFile()) ? decl : undefined;
    };
    const pathTo = (node: ts.Node): string[] => {
      const out: string[] = [];
      for (let n: ts.Node | undefined = node; n; n = parent.get(n)) out.unshift(this.describe(n));
      return out;
    };
    const enqueueDeclaration = (decl: ts.Declaration) => {
      if (
        ts.isFunctionDeclaration(decl) ||
        ts.isMethodDeclaration(decl) ||
        ts.isGetAccessorDeclaration(decl) ||
        ts.isSetAccessorDeclaration(decl) ||
        ts.isConstructorDeclaration(decl) ||
        ts.isArrowFunction(decl) ||
        ts.isFunctionExpression(decl)
      ) {
        enqueue(decl);
      } else if (ts.isVariableDeclaration(decl) || ts.isPropertyDeclaration(decl)) {
        enqueue(decl.initializer);
      } else if ((ts.isMethodSignature(decl) || ts.isPropertySignature(decl)) && (ts.isInterfaceDeclaration(decl.parent) || ts.isTypeLiteralNode(decl.parent))) {
        calledMembers.add(decl);
        for (const fn of deferred.get(decl) ?? []) enqueue(fn);
        if (!ts.isInterfaceDeclaration(decl.parent)) return;
        const name = decl.name && (ts.isIdentifier(decl.name) || ts.isStringLiteral(decl.name)) ? decl.name.text : undefined;
        for (const impl of this.implementations.get(`${decl.parent.name.text}.${name}`) ?? []) enqueueDeclaration(impl as ts.Declaration);
      } else if (ts.isBindingElement(decl) && ts.isObjectBindingPattern(decl.parent)) {
        // `const { fn } = await import('./deps.ts')`: the cold-start code Lambda handlers load lazily.
        const key = decl.propertyName ?? decl.name;
        const name = ts.isIdentifier(key) || ts.isStringLiteral(key) ? key.text : undefined;
        let symbol = name ? this.checker.getTypeAtLocation(decl.parent).getProperty(name) : undefined;
        if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = this.checker.getAliasedSymbol(symbol);
        for (const d of symbol?.declarations ?? []) enqueueDeclaration(d);
      } else if (ts.isClassDeclaration(decl) || ts.isClassExpression(decl)) {
        for (const member of decl.members) {
          if (ts.isConstructorDeclaration(member)) enqueue(member);
          else if (ts.isPropertyDeclaration(member) && !member.modifiers?.some((m) => m.kind === ts.SyntaxKind.StaticKeyword)) enqueue(member.initializer);
        }
        // A subclass constructor runs its base's too.
        for (const clause of decl.heritageClauses ?? []) {
          if (clause.token !== ts.SyntaxKind.ExtendsKeyword) continue;
          for (const t of clause.types) for (const d of this.declarationsOf(t.expression)) enqueueDeclaration(d);
        }
      }
    };
    const recordCommand = (expr: ts.NewExpression) => {
      for (const decl of this.declarationsOf(expr.expression)) {
        const pkg = SDK_PACKAGE.exec(decl.getSourceFile().fileName)?.[1];
        const name = ts.isClassDeclaration(decl) && decl.name ? decl.name.text : undefined;
        if (!pkg || !name || !name.endsWith('Command')) continue;
        const sf = expr.getSourceFile();
        const file = this.rel(sf.fileName);
        const found: SdkCommand = { pkg, command: name, file, path: pathTo(current) };
        if (name === 'TransactWriteCommand') found.transactItems = this.transactKindsIn(sf);
        commands.set(`${pkg} ${name} ${file}`, found);
      }
    };
    while (queue.length > 0) {
      const root = queue.shift() as ts.Node;
      current = root;
      const walk = (node: ts.Node): void => {
        if (ts.isTypeNode(node) || ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node) || ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) return;
        const fnValue = ts.isPropertyAssignment(node) && (ts.isArrowFunction(node.initializer) || ts.isFunctionExpression(node.initializer)) ? node.initializer : ts.isMethodDeclaration(node) && ts.isObjectLiteralExpression(node.parent) ? node : undefined;
        if (fnValue) {
          const target = deferTarget(node as ts.ObjectLiteralElementLike);
          if (target) {
            if (calledMembers.has(target)) enqueue(fnValue);
            else deferred.set(target, [...(deferred.get(target) ?? []), fnValue]);
            return;
          }
        }
        if (ts.isNewExpression(node)) {
          recordCommand(node);
          for (const d of this.declarationsOf(node.expression)) enqueueDeclaration(d);
        }
        if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) {
          for (const d of this.declarationsOf(node)) enqueueDeclaration(d);
        }
        ts.forEachChild(node, walk);
      };
      ts.forEachChild(root, walk);
    }
    return [...commands.values()].sort((a, b) => `${a.pkg}${a.command}${a.file}`.localeCompare(`${b.pkg}${b.command}${b.file}`));
  }

  private describe(node: ts.Node): string {
    const sf = node.getSourceFile();
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    const named = node as { name?: ts.Node };
    const owner = ts.isClassLike(node.parent) && node.parent.name ? `${node.parent.name.text}.` : '';
    const name = named.name && (ts.isIdentifier(named.name) || ts.isPrivateIdentifier(named.name)) ? `${owner}${named.name.text}` : ts.SyntaxKind[node.kind];
    return `${this.rel(sf.fileName)}:${line} ${name}`;
  }

  private declarationsOf(node: ts.Node): ts.Declaration[] {
    let symbol = this.checker.getSymbolAtLocation(node);
    if (!symbol) return [];
    if (symbol.flags & ts.SymbolFlags.Alias) symbol = this.checker.getAliasedSymbol(symbol);
    return symbol.declarations ?? [];
  }

  /** Item kinds of the transactions a file builds (`{ Put: … }`, `{ ConditionCheck: … }`). */
  private transactKindsIn(sf: ts.SourceFile): string[] {
    const kinds = new Set<string>();
    const visit = (node: ts.Node) => {
      if ((ts.isPropertyAssignment(node) || ts.isShorthandPropertyAssignment(node)) && ts.isIdentifier(node.name) && TRANSACT_KINDS.has(node.name.text)) kinds.add(node.name.text);
      ts.forEachChild(node, visit);
    };
    visit(sf);
    return [...kinds].sort();
  }
}
