# Option types for the stub module system (modules.nix): check + merge with nixpkgs' semantics.
{ lib }:

let
  inherit (builtins)
    all
    attrNames
    concatLists
    filter
    isAttrs
    isBool
    isFunction
    isInt
    isList
    isPath
    isString
    length
    listToAttrs
    ;
  inherit (import ./modules.nix { inherit lib; }) discharge evalModules showPath;

  mkType =
    {
      description,
      check,
      merge ? mergeEqual description,
    }:
    {
      _type = "type";
      inherit description check merge;
    };

  mergeEqual =
    description: path: values:
    let
      first = builtins.head values;
    in
    if all (v: v == first) values then
      first
    else
      throw "stub lib: conflicting definitions of `${showPath path}' (${description}): ${builtins.toJSON values}";

  isStringLike = v: isString v || isPath v || (isAttrs v && v ? outPath);

  # Values allowed in a systemd unit section (nixos/lib/systemd-unit-options.nix: unitOption).
  unitScalar = v: isBool v || isInt v || isStringLike v;

  types = rec {
    str = mkType {
      description = "string";
      check = isString;
    };
    lines = mkType {
      description = "strings concatenated with \"\\n\"";
      check = isString;
      merge = _: values: builtins.concatStringsSep "\n" values;
    };
    bool = mkType {
      description = "boolean";
      check = isBool;
    };
    int = mkType {
      description = "signed integer";
      check = isInt;
    };
    port = mkType {
      description = "16 bit unsigned integer";
      check = v: isInt v && v >= 0 && v <= 65535;
    };
    path = mkType {
      description = "path";
      check = isStringLike;
    };
    package = mkType {
      description = "package";
      check = v: isAttrs v && (v.type or null) == "derivation";
    };
    enum =
      values:
      mkType {
        description = "one of ${builtins.toJSON values}";
        check = v: builtins.elem v values;
      };
    # Like nixpkgs' `anything`/`attrs`: attribute sets merge recursively, lists concatenate.
    anything = mkType {
      description = "anything";
      check = _: true;
      merge =
        path: values:
        if all isAttrs values && !(all lib.isDerivation values) then
          (attrsOf anything).merge path values
        else if all isList values then
          concatLists values
        else
          mergeEqual "anything" path values;
    };
    attrs = anything // {
      description = "attribute set";
      check = isAttrs;
    };
    unitOption = mkType {
      description = "systemd unit option (bool, int, string, path or a list of them)";
      check = v: unitScalar v || (isList v && all unitScalar v);
      merge =
        path: values:
        if all isList values then concatLists values else mergeEqual "systemd unit option" path values;
    };
    nullOr =
      t:
      mkType {
        description = "null or ${t.description}";
        check = v: v == null || t.check v;
        merge =
          path: values:
          let
            nonNull = filter (v: v != null) values;
          in
          if nonNull == [ ] then
            null
          else if length nonNull == length values then
            t.merge path values
          else
            throw "stub lib: `${showPath path}' is defined both null and non-null";
      };
    listOf =
      t:
      mkType {
        description = "list of ${t.description}";
        check = isList;
        merge =
          path: values:
          let
            elems = concatLists values;
            bad = filter (v: !(t.check v)) elems;
          in
          if bad != [ ] then
            throw "stub lib: an element of `${showPath path}' is not of type `${t.description}': ${builtins.toJSON (builtins.head bad)}"
          else
            map (v: t.merge (path ++ [ "*" ]) [ v ]) elems;
      };
    attrsOf =
      t:
      mkType {
        description = "attribute set of ${t.description}";
        check = isAttrs;
        merge =
          path: values:
          let
            names = lib.unique (concatLists (map attrNames values));
            valuesOf = name: discharge (map (v: v.${name}) (filter (v: v ? ${name}) values));
            present = filter (name: valuesOf name != [ ]) names;
          in
          listToAttrs (
            map (name: {
              inherit name;
              value =
                let
                  vs = valuesOf name;
                  bad = filter (v: !(t.check v)) vs;
                in
                if bad != [ ] then
                  throw "stub lib: `${showPath (path ++ [ name ])}' is not of type `${t.description}': ${builtins.toJSON (builtins.head bad)}"
                else
                  t.merge (path ++ [ name ]) vs;
            }) present
          );
      };
    submodule =
      module:
      mkType {
        description = "submodule";
        check = v: isAttrs v || isFunction v;
        merge =
          path: values:
          (evalModules {
            prefix = path;
            modules = [ module ] ++ map (v: if isFunction v then v else { config = v; }) values;
            specialArgs.name = lib.last path;
          }).config;
      };
  };
in
types
