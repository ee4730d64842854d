/* api_routes.c - the route table: one line per endpoint (see api.h). */
#include "api.h"
#include "api_devops.h"
#include "api_identities.h"
#include "api_health.h"

const struct api_route api_routes[] = {
	{htp_method_GET, "/", api_root_get, API_AUTH_OPTIONAL},
	{htp_method_GET, "/versions", api_versions_get, API_AUTH_NONE},
	{htp_method_GET, "/configuration", api_configuration_get,
	 API_AUTH_TOKEN},
	{htp_method_GET, "/configuration/bootstrap", api_bootstrap_get,
	 API_AUTH_TOKEN},
	{htp_method_GET, "/health", api_health_get, API_AUTH_NONE},
	{htp_method_GET, "/metrics", api_metrics_list, API_AUTH_TOKEN},
	{htp_method_GET, "/metrics/{metricID}", api_metric_get, API_AUTH_TOKEN},
	{htp_method_POST, "/oauth/token", api_token_post, API_AUTH_NONE},
	{htp_method_GET, "/accesskeys", api_accesskeys_list, API_AUTH_TOKEN},
	{htp_method_POST, "/accesskeys", api_accesskeys_create, API_AUTH_TOKEN},
	{htp_method_GET, "/accesskeys/{key}", api_accesskey_get, API_AUTH_TOKEN},
	{htp_method_PUT, "/accesskeys/{key}", api_accesskey_put, API_AUTH_TOKEN},
	{htp_method_DELETE, "/accesskeys/{key}", api_accesskey_delete,
	 API_AUTH_TOKEN},
	{htp_method_GET, "/clients", api_clients_list, API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}", api_client_get, API_AUTH_TOKEN},
	{htp_method_DELETE, "/clients/{clientID}", api_client_delete,
	 API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/metrics", api_client_metrics_list,
	 API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/metrics/{metricID}",
	 api_client_metric_get, API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/operations/{operationID}",
	 api_operation_get, API_AUTH_TOKEN},
	{htp_method_POST, "/clients/{clientID}/composite/read",
	 api_composite_read, API_AUTH_TOKEN},
	{htp_method_PUT, "/clients/{clientID}/composite", api_composite_write,
	 API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/objecttypes", api_objecttypes_list,
	 API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/objecttypes/{definitionID}",
	 api_objecttype_get, API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/objecttypes/{definitionID}/"
	                  "instances",
	 api_instances_list, API_AUTH_TOKEN},
	{htp_method_POST, "/clients/{clientID}/objecttypes/{definitionID}/"
	                   "instances",
	 api_instances_create, API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/objecttypes/{definitionID}/"
	                  "instances/{instanceID}",
	 api_instance_get, API_AUTH_TOKEN},
	{htp_method_PUT, "/clients/{clientID}/objecttypes/{definitionID}/"
	                  "instances/{instanceID}",
	 api_instance_put, API_AUTH_TOKEN},
	{htp_method_DELETE, "/clients/{clientID}/objecttypes/{definitionID}/"
	                     "instances/{instanceID}",
	 api_instance_delete, API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/objecttypes/{definitionID}/"
	                  "instances/{instanceID}/resources/{resourceID}",
	 api_resource_get, API_AUTH_TOKEN},
	{htp_method_PUT, "/clients/{clientID}/objecttypes/{definitionID}/"
	                  "instances/{instanceID}/resources/{resourceID}",
	 api_resource_put, API_AUTH_TOKEN},
	{htp_method_POST, "/clients/{clientID}/objecttypes/{definitionID}/"
	                   "instances/{instanceID}/resources/{resourceID}/"
	                   "execute",
	 api_resource_execute, API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/objecttypes/{definitionID}/discover",
	 api_discover_object, API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/objecttypes/{definitionID}/"
	                  "instances/{instanceID}/discover",
	 api_discover_instance, API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/objecttypes/{definitionID}/"
	                  "instances/{instanceID}/resources/{resourceID}/"
	                  "discover",
	 api_discover_resource, API_AUTH_TOKEN},
	{htp_method_PUT, "/clients/{clientID}/objecttypes/{definitionID}/attributes",
	 api_attributes_object, API_AUTH_TOKEN},
	{htp_method_PUT, "/clients/{clientID}/objecttypes/{definitionID}/"
	                  "instances/{instanceID}/attributes",
	 api_attributes_instance, API_AUTH_TOKEN},
	{htp_method_PUT, "/clients/{clientID}/objecttypes/{definitionID}/"
	                  "instances/{instanceID}/resources/{resourceID}/"
	                  "attributes",
	 api_attributes_resource, API_AUTH_TOKEN},
	{htp_method_GET, "/objecttypes/definitions", api_definitions_list,
	 API_AUTH_TOKEN},
	{htp_method_POST, "/objecttypes/definitions", api_definitions_create,
	 API_AUTH_TOKEN},
	{htp_method_GET, "/objecttypes/definitions/{definitionID}",
	 api_definition_get, API_AUTH_TOKEN},
	{htp_method_PUT, "/objecttypes/definitions/{definitionID}",
	 api_definition_put, API_AUTH_TOKEN},
	{htp_method_DELETE, "/objecttypes/definitions/{definitionID}",
	 api_definition_delete, API_AUTH_TOKEN},
	{htp_method_GET, "/identities", api_identities_get, API_AUTH_TOKEN},
	{htp_method_GET, "/identities/psk", api_psk_list, API_AUTH_TOKEN},
	{htp_method_POST, "/identities/psk", api_psk_create, API_AUTH_TOKEN},
	{htp_method_GET, "/identities/psk/{identity}", api_psk_get,
	 API_AUTH_TOKEN},
	{htp_method_DELETE, "/identities/psk/{identity}", api_psk_delete,
	 API_AUTH_TOKEN},
	{htp_method_GET, "/subscriptions", api_subscriptions_list,
	 API_AUTH_TOKEN},
	{htp_method_POST, "/subscriptions", api_subscriptions_create,
	 API_AUTH_TOKEN},
	{htp_method_GET, "/subscriptions/{subscriptionID}",
	 api_subscription_get, API_AUTH_TOKEN},
	{htp_method_PUT, "/subscriptions/{subscriptionID}",
	 api_subscription_put, API_AUTH_TOKEN},
	{htp_method_DELETE, "/subscriptions/{subscriptionID}",
	 api_subscription_delete, API_AUTH_TOKEN},
	{htp_method_GET, "/subscriptions/{subscriptionID}/deadletters",
	 api_subscription_deadletters, API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/subscriptions",
	 api_subscriptions_list, API_AUTH_TOKEN},
	{htp_method_POST, "/clients/{clientID}/subscriptions",
	 api_subscriptions_create, API_AUTH_TOKEN},
	{htp_method_GET, "/clients/{clientID}/objecttypes/{definitionID}/"
	                 "instances/{instanceID}/subscriptions",
	 api_subscriptions_list, API_AUTH_TOKEN},
	{htp_method_POST, "/clients/{clientID}/objecttypes/{definitionID}/"
	                  "instances/{instanceID}/subscriptions",
	 api_subscriptions_create, API_AUTH_TOKEN},
	{htp_method_GET, "/identities/certificates", api_certificates_get,
	 API_AUTH_TOKEN},
	{htp_method_POST, "/identities/certificates", api_certificates_create,
	 API_AUTH_TOKEN},
};

const size_t api_n_routes = sizeof api_routes / sizeof api_routes[0];
