/** Target namespace of the DMT vehicle registry's WSDL and messages. */
export const VEHICLE_REGISTRY_NS = 'http://dmt.farajaland.example/vehicle-registry/v1';

/** The service's path; the WSDL is at `${path}?wsdl`. */
export const SERVICE_PATH = '/vehicles';

/**
 * The WSDL 1.1 (document/literal, wrapped) of the DMT vehicle registry, with the SOAP address
 * pointing at `location`.
 */
export function vehicleRegistryWsdl(location: string): string {
  const ns = VEHICLE_REGISTRY_NS;
  const operations = ['GetVehicle', 'GetVehiclesByOwner', 'ListVehicleClasses'];
  return `<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions name="VehicleRegistry"
    targetNamespace="${ns}"
    xmlns:tns="${ns}"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <wsdl:documentation>Department of Motor Traffic, Farajaland: vehicle registry (legacy SOAP service).</wsdl:documentation>
  <wsdl:types>
    <xsd:schema targetNamespace="${ns}" elementFormDefault="qualified">
      <xsd:complexType name="VehicleClass">
        <xsd:sequence>
          <xsd:element name="ClassCode" type="xsd:string"/>
          <xsd:element name="ClassName" type="xsd:string"/>
        </xsd:sequence>
      </xsd:complexType>
      <xsd:complexType name="VehicleClassList">
        <xsd:sequence>
          <xsd:element name="VehicleClass" type="tns:VehicleClass" minOccurs="0" maxOccurs="unbounded"/>
        </xsd:sequence>
      </xsd:complexType>
      <xsd:complexType name="Vehicle">
        <xsd:sequence>
          <xsd:element name="RegistrationNumber" type="xsd:string"/>
          <xsd:element name="Make" type="xsd:string"/>
          <xsd:element name="Model" type="xsd:string"/>
          <xsd:element name="YearOfManufacture" type="xsd:int"/>
          <xsd:element name="OwnerNic" type="xsd:string"/>
          <xsd:element name="Classes" type="tns:VehicleClassList"/>
        </xsd:sequence>
      </xsd:complexType>
      <xsd:element name="GetVehicle">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="RegistrationNumber" type="xsd:string"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="GetVehicleResponse">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="Vehicle" type="tns:Vehicle" minOccurs="0"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="GetVehiclesByOwner">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="OwnerNic" type="xsd:string"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="GetVehiclesByOwnerResponse">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="Vehicle" type="tns:Vehicle" minOccurs="0" maxOccurs="unbounded"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="ListVehicleClasses">
        <xsd:complexType>
          <xsd:sequence/>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="ListVehicleClassesResponse">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="VehicleClass" type="tns:VehicleClass" minOccurs="0" maxOccurs="unbounded"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="VehicleRegistryFault">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="ErrorCode" type="xsd:string"/>
            <xsd:element name="Message" type="xsd:string"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
    </xsd:schema>
  </wsdl:types>
${operations
  .map(
    (
      op,
    ) => `  <wsdl:message name="${op}Input"><wsdl:part name="parameters" element="tns:${op}"/></wsdl:message>
  <wsdl:message name="${op}Output"><wsdl:part name="parameters" element="tns:${op}Response"/></wsdl:message>`,
  )
  .join('\n')}
  <wsdl:message name="VehicleRegistryFault"><wsdl:part name="fault" element="tns:VehicleRegistryFault"/></wsdl:message>
  <wsdl:portType name="VehicleRegistryPortType">
${operations
  .map(
    (op) => `    <wsdl:operation name="${op}">
      <wsdl:input message="tns:${op}Input"/>
      <wsdl:output message="tns:${op}Output"/>
      <wsdl:fault name="VehicleRegistryFault" message="tns:VehicleRegistryFault"/>
    </wsdl:operation>`,
  )
  .join('\n')}
  </wsdl:portType>
  <wsdl:binding name="VehicleRegistryBinding" type="tns:VehicleRegistryPortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
${operations
  .map(
    (op) => `    <wsdl:operation name="${op}">
      <soap:operation soapAction="${ns}/${op}"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input>
      <wsdl:output><soap:body use="literal"/></wsdl:output>
      <wsdl:fault name="VehicleRegistryFault"><soap:fault name="VehicleRegistryFault" use="literal"/></wsdl:fault>
    </wsdl:operation>`,
  )
  .join('\n')}
  </wsdl:binding>
  <wsdl:service name="VehicleRegistryService">
    <wsdl:port name="VehicleRegistryPort" binding="tns:VehicleRegistryBinding">
      <soap:address location="${escapeXml(location)}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
