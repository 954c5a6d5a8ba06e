# Option types for the stub module system (modules.nix), with nixpkgs' lib/types.nix checks, merges and
# descriptions: `merge loc defs` receives [ { file; value; } ], already discharged, filtered and ordered.
{ lib }:

let
  inherit (builtins)
    all
    attrNames
    concatLists
    filter
    isAttrs
    isBool
    isFloat
    isFunction
    isInt
    isList
    isPath
    isString
    length
    listToAttrs
    ;
  inherit (import ./modules.nix { inherit lib; })
    evalModules
    mergeDefinitions
    pushDownProperties
    showOption
    showFiles
    ;

  mkOptionType =
    {
      name,
      description ? name,
      check ? (_: true),
      merge ? mergeDefaultOption,
      ...
    }@attrs:
    attrs
    // {
      _type = "option-type";
      inherit
        name
        description
        check
        merge
        ;
    };

  # lib/options.nix mergeEqualOption: several definitions are fine as long as they are equal.
  mergeEqualOption =
    loc: defs:
    let
      first = builtins.head defs;
    in
    if length defs == 1 then
      first.value
    else
      (lib.foldl' (
        a: d:
        if d.value != a.value then
          throw "The option `${showOption loc}' has conflicting definition values:\n- In `${toString a.file}': ${builtins.toJSON a.value}\n- In `${toString d.file}': ${builtins.toJSON d.value}\nUse `lib.mkForce value` or `lib.mkDefault value` to change the priority on any of these definitions."
        else
          a
      ) first defs).value;

  mergeOneOption =
    loc: defs:
    if length defs == 1 then
      (builtins.head defs).value
    else
      throw "The unique option `${showOption loc}' is defined multiple times. Definition values: ${showFiles (map (d: d.file) defs)}";

  mergeDefaultOption =
    loc: defs:
    let
      values = map (d: d.value) defs;
    in
    if length defs == 1 then
      builtins.head values
    else if all isFunction values then
      x: mergeDefaultOption loc (map (d: d // { value = d.value x; }) defs)
    else if all isList values then
      concatLists values
    else if all isAttrs values then
      lib.foldl' lib.mergeAttrs { } values
    else if all isBool values then
      lib.foldl' (a: b: a || b) false values
    else if all isString values then
      lib.concatStrings values
    else if all isInt values && all (x: x == builtins.head values) values then
      builtins.head values
    else
      throw "Cannot merge definitions of `${showOption loc}'.";

  isStringLike = v: isString v || isPath v || (isAttrs v && (v ? outPath || v ? __toString));

  addCheck = t: check: t // { check = v: t.check v && check v; };

  types = rec {
    inherit mkOptionType addCheck;

    str = mkOptionType {
      name = "str";
      description = "string";
      check = isString;
      merge = mergeEqualOption;
    };
    nonEmptyStr = addCheck str (s: builtins.match "[ \t\n]*" s == null) // {
      description = "non-empty string";
    };
    separatedString =
      sep:
      mkOptionType {
        name = "separatedString";
        description = if sep == "" then "Concatenated string" else "strings concatenated with ${builtins.toJSON sep}";
        check = isString;
        merge = _: defs: builtins.concatStringsSep sep (map (d: d.value) defs);
      };
    lines = separatedString "\n";
    commas = separatedString ",";
    # lib/types.nix passwdEntry: a field of /etc/passwd or /etc/group.
    passwdEntry =
      t:
      addCheck t (s: !(lib.hasInfix ":" s || lib.hasInfix "\n" s))
      // {
        name = "passwdEntry ${t.name}";
        description = "${t.description}, not containing newlines or colons";
      };
    bool = mkOptionType {
      name = "bool";
      description = "boolean";
      check = isBool;
      merge = mergeEqualOption;
    };
    int = mkOptionType {
      name = "int";
      description = "signed integer";
      check = isInt;
      merge = mergeEqualOption;
    };
    float = mkOptionType {
      name = "float";
      description = "floating point number";
      check = isFloat;
      merge = mergeEqualOption;
    };
    ints = {
      between =
        lo: hi:
        addCheck int (x: x >= lo && x <= hi)
        // {
          name = "intBetween";
          description = "integer between ${toString lo} and ${toString hi} (both inclusive)";
        };
      unsigned = addCheck int (x: x >= 0) // {
        description = "unsigned integer, meaning >=0";
      };
      positive = addCheck int (x: x > 0) // {
        description = "positive integer, meaning >0";
      };
      u16 = addCheck int (x: x >= 0 && x <= 65535) // {
        name = "unsignedInt16";
        description = "16 bit unsigned integer; between 0 and 65535 (both inclusive)";
      };
    };
    port = ints.u16;
    path = mkOptionType {
      name = "path";
      description = "path";
      check = x: isStringLike x && builtins.substring 0 1 (toString x) == "/";
      merge = mergeEqualOption;
    };
    package = mkOptionType {
      name = "package";
      description = "package";
      check = v: lib.isDerivation v || (isString v && lib.hasPrefix builtins.storeDir v);
      merge = mergeOneOption;
    };
    enum =
      values:
      mkOptionType {
        name = "enum";
        description = "one of ${builtins.concatStringsSep ", " (map builtins.toJSON values)}";
        check = v: builtins.elem v values;
        merge = mergeEqualOption;
      };
    # lib/types.nix anything: attribute sets merge recursively, packages once, the rest must be equal.
    anything = mkOptionType {
      name = "anything";
      description = "anything";
      merge =
        loc: defs:
        let
          typeOf = v: if isAttrs v && isStringLike v then "stringCoercibleSet" else builtins.typeOf v;
          t = typeOf (builtins.head defs).value;
        in
        if !(all (d: typeOf d.value == t) defs) then
          throw "The option `${showOption loc}' has conflicting option types in ${showFiles (map (d: d.file) defs)}"
        else if t == "set" then
          (attrsOf anything).merge loc defs
        else if t == "stringCoercibleSet" then
          mergeOneOption loc defs
        else
          mergeEqualOption loc defs;
    };
    # lib/types.nix attrs: a shallow `//` of the definitions, later ones winning.
    attrs = mkOptionType {
      name = "attrs";
      description = "attribute set";
      check = isAttrs;
      merge = _: defs: lib.foldl' (a: d: a // d.value) { } defs;
    };
    nullOr =
      t:
      mkOptionType {
        name = "nullOr";
        description = "null or ${t.description}";
        check = v: v == null || t.check v;
        merge =
          loc: defs:
          let
            nulls = length (filter (d: d.value == null) defs);
          in
          if nulls == length defs then
            null
          else if nulls != 0 then
            throw "The option `${showOption loc}' is defined both null and not null, in ${showFiles (map (d: d.file) defs)}."
          else
            t.merge loc defs;
      };
    either =
      a: b:
      mkOptionType {
        name = "either";
        description = "${a.description} or ${b.description}";
        check = v: a.check v || b.check v;
        merge =
          loc: defs:
          if all (d: a.check d.value) defs then
            a.merge loc defs
          else if all (d: b.check d.value) defs then
            b.merge loc defs
          else
            mergeOneOption loc defs;
      };
    oneOf = ts: lib.foldl' either (builtins.head ts) (builtins.tail ts);
    listOf =
      t:
      mkOptionType {
        name = "listOf";
        description = "list of ${t.description}";
        check = isList;
        merge =
          loc: defs:
          map (x: x.value) (
            filter (x: x.isDefined) (
              concatLists (
                lib.imap1 (
                  n: d:
                  lib.imap1 (
                    m: v:
                    mergeDefinitions (loc ++ [ "[definition ${toString n}-entry ${toString m}]" ]) t [
                      {
                        inherit (d) file;
                        value = v;
                      }
                    ]
                  ) d.value
                ) defs
              )
            )
          );
      };
    # lib/types.nix: listOf with a check refusing [ ] ("non-empty list of …").
    nonEmptyListOf =
      t: addCheck (listOf t) (l: l != [ ]) // { description = "non-empty list of ${t.description}"; };
    attrsOf =
      t:
      mkOptionType {
        name = "attrsOf";
        description = "attribute set of ${t.description}";
        check = isAttrs;
        merge =
          loc: defs:
          let
            pushed = concatLists (map (d: map (value: d // { inherit value; }) (pushDownProperties d.value)) defs);
            names = lib.unique (concatLists (map (d: attrNames d.value) pushed));
            merged = map (name: {
              inherit name;
              m = mergeDefinitions (loc ++ [ name ]) t (
                map (d: d // { value = d.value.${name}; }) (filter (d: d.value ? ${name}) pushed)
              );
            }) names;
          in
          listToAttrs (
            map (x: {
              inherit (x) name;
              value = x.m.value;
            }) (filter (x: x.m.isDefined) merged)
          );
      };
    # lib/types.nix submoduleWith: each definition is a module of the submodule's evaluation.
    submodule =
      module:
      mkOptionType {
        name = "submodule";
        description = "submodule";
        check = v: isAttrs v || isFunction v || isPath v;
        merge =
          loc: defs:
          (evalModules {
            prefix = loc;
            modules = [ module ] ++ map (d: if isAttrs d.value then { _file = d.file; config = d.value; } else { _file = d.file; imports = [ d.value ]; }) defs;
            specialArgs.name = lib.last loc;
          }).config;
      };
  };
in
types // { inherit mergeEqualOption mergeOneOption; }
