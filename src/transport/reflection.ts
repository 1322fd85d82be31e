import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  type DescriptorProto,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import {
  ServerReflection,
  type ServerReflectionRequest,
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflectionRequestSchema as AlphaRequestSchema,
  ServerReflectionResponseSchema as AlphaResponseSchema,
  ServerReflection as ServerReflectionAlpha,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** What reflection serves. */
export interface ReflectionOptions {
  /** A serialized FileDescriptorSet with every file and its imports (source info keeps comments). */
  readonly descriptorSet: Uint8Array;
  /** Fully qualified names of the services `list` reports. */
  readonly services: readonly string[];
}

type ResponseInit = MessageInitShape<typeof ServerReflectionResponseSchema>;

/**
 * Files of a descriptor set indexed by name and by every symbol they declare. It keeps each file
 * encoded with its imports' names, not the parsed descriptors: parsed, their source info (the
 * comments and spans of every element) is about 0.6 MB of small objects.
 */
class DescriptorIndex {
  readonly #files = new Map<
    string,
    { readonly encoded: Uint8Array; readonly dependency: readonly string[] }
  >();
  readonly #fileBySymbol = new Map<string, string>();
  readonly #messages = new Set<string>();

  constructor(descriptorSet: Uint8Array) {
    const set = fromBinary(FileDescriptorSetSchema, descriptorSet);
    for (const file of set.file) {
      this.#files.set(file.name, {
        encoded: toBinary(FileDescriptorProtoSchema, file),
        dependency: [...file.dependency],
      });
      const prefix = file.package ? `${file.package}.` : "";
      for (const message of file.messageType) this.#indexMessage(file.name, prefix, message);
      for (const e of file.enumType) this.#fileBySymbol.set(prefix + e.name, file.name);
      for (const ext of file.extension) this.#fileBySymbol.set(prefix + ext.name, file.name);
      for (const service of file.service) {
        this.#fileBySymbol.set(prefix + service.name, file.name);
        for (const method of service.method)
          this.#fileBySymbol.set(`${prefix}${service.name}.${method.name}`, file.name);
      }
    }
  }

  #indexMessage(file: string, prefix: string, message: DescriptorProto): void {
    const name = prefix + message.name;
    this.#fileBySymbol.set(name, file);
    this.#messages.add(name);
    for (const field of message.field) this.#fileBySymbol.set(`${name}.${field.name}`, file);
    for (const nested of message.nestedType) this.#indexMessage(file, `${name}.`, nested);
    for (const e of message.enumType) this.#fileBySymbol.set(`${name}.${e.name}`, file);
  }

  hasMessage(name: string): boolean {
    return this.#messages.has(name);
  }

  fileOfSymbol(symbol: string): string | undefined {
    return this.#fileBySymbol.get(symbol.replace(/^\./, ""));
  }

  /** The file and everything it imports, transitively, the file itself first. */
  withDependencies(name: string): Uint8Array[] | undefined {
    if (!this.#files.has(name)) return undefined;
    const order: string[] = [];
    const visit = (file: string) => {
      if (order.includes(file)) return;
      order.push(file);
      for (const dep of this.#files.get(file)?.dependency ?? []) if (this.#files.has(dep)) visit(dep);
    };
    visit(name);
    return order.map((file) => this.#files.get(file)!.encoded);
  }
}

function notFound(message: string): ResponseInit["messageResponse"] {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: message } };
}

function answer(
  index: DescriptorIndex,
  services: readonly string[],
  req: ServerReflectionRequest,
): ResponseInit {
  const files = (name: string | undefined, what: string): ResponseInit["messageResponse"] => {
    const encoded = name === undefined ? undefined : index.withDependencies(name);
    if (!encoded) return notFound(`${what} not found`);
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: encoded } };
  };
  let messageResponse: ResponseInit["messageResponse"];
  const request = req.messageRequest;
  switch (request.case) {
    case "listServices":
      messageResponse = {
        case: "listServicesResponse",
        value: { service: services.map((name) => ({ name })) },
      };
      break;
    case "fileByFilename":
      messageResponse = files(request.value, `file "${request.value}"`);
      break;
    case "fileContainingSymbol":
      messageResponse = files(index.fileOfSymbol(request.value), `symbol "${request.value}"`);
      break;
    case "fileContainingExtension":
      // No file served here declares extensions.
      messageResponse = notFound(
        `extension ${request.value.extensionNumber} of "${request.value.containingType}" not found`,
      );
      break;
    case "allExtensionNumbersOfType":
      messageResponse = index.hasMessage(request.value)
        ? { case: "allExtensionNumbersResponse", value: { baseTypeName: request.value, extensionNumber: [] } }
        : notFound(`type "${request.value}" not found`);
      break;
    default:
      messageResponse = {
        case: "errorResponse",
        value: { errorCode: Code.InvalidArgument, errorMessage: "empty reflection request" },
      };
  }
  return { validHost: req.host, originalRequest: req, messageResponse };
}

/**
 * Serves gRPC server reflection, v1 and v1alpha (same messages under two packages), from a
 * descriptor set built with source info, so `grpcurl describe` shows the proto comments.
 */
export function registerReflection(router: ConnectRouter, options: ReflectionOptions): void {
  const index = new DescriptorIndex(options.descriptorSet);
  router.service(ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests)
        yield create(ServerReflectionResponseSchema, answer(index, options.services, req));
    },
  });
  router.service(ServerReflectionAlpha, {
    async *serverReflectionInfo(requests) {
      for await (const alpha of requests) {
        const req = fromBinary(ServerReflectionRequestSchema, toBinary(AlphaRequestSchema, alpha));
        const res = create(ServerReflectionResponseSchema, answer(index, options.services, req));
        yield fromBinary(AlphaResponseSchema, toBinary(ServerReflectionResponseSchema, res));
      }
    },
  });
}
