import { DOMParser } from '@xmldom/xmldom';

/** The SOAP 1.1 envelope namespace. */
export const SOAP11_NS = 'http://schemas.xmlsoap.org/soap/envelope/';

/** A DOCTYPE (and with it any entity declaration: XXE, "billion laughs") is refused before any parser runs. */
const DOCTYPE_OR_ENTITY = /<!(DOCTYPE|ENTITY)/i;

/** A request's SOAP 1.1 Envelope element, or why the request is refused before anything reads it. */
export type ParsedEnvelope = { envelope: Element } | { refused: string };

/** Parses a request body: refuses any DOCTYPE, XML that is not well-formed, and a root that is not a SOAP 1.1 Envelope. */
export function parseSoapEnvelope(xml: string): ParsedEnvelope {
  if (DOCTYPE_OR_ENTITY.test(xml)) return { refused: 'XML with a DOCTYPE or entity declaration is refused' };
  const notEnvelope = { refused: 'the request is not a SOAP envelope this service understands' };
  let root: Element | null;
  try {
    const fail = (message: string) => {
      throw new Error(message);
    };
    root = new DOMParser({
      errorHandler: { warning: () => undefined, error: fail, fatalError: fail },
    }).parseFromString(xml, 'text/xml').documentElement;
  } catch {
    return notEnvelope;
  }
  if (!root || root.namespaceURI !== SOAP11_NS || root.localName !== 'Envelope') return notEnvelope;
  return { envelope: root };
}
